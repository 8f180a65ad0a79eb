using System.Net;
using Microsoft.Extensions.Logging;

namespace MessengerProxy.LowBandwidth.Diagnostics;

/// <summary>
/// Log events of the front door: endpoint templates (never paths, which name users and rooms), never tokens or
/// bodies. Peers are passed as end points, not strings, so that a disabled level formats nothing: the
/// generated methods check <see cref="ILogger.IsEnabled"/> before they touch an argument.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(201, LogLevel.Debug, "{Peer} {Method} {Endpoint}: {StatusCode}", EventName = "CoapRequest")]
    public static partial void Request(ILogger logger, EndPoint peer, string method, string endpoint, int statusCode);

    [LoggerMessage(202, LogLevel.Debug, "Dropped a malformed datagram from {Peer}: {Reason}", EventName = "MalformedDatagram")]
    public static partial void Malformed(ILogger logger, EndPoint peer, object reason);

    [LoggerMessage(203, LogLevel.Information, "Separate response to {Peer} was not acknowledged after {Attempts} transmissions", EventName = "ResponseUnacknowledged")]
    public static partial void Unacknowledged(ILogger logger, EndPoint peer, int attempts);

    [LoggerMessage(204, LogLevel.Error, "Unhandled error while handling a CoAP request from {Peer}", EventName = "UnhandledError")]
    public static partial void UnhandledError(ILogger logger, EndPoint peer, Exception exception);

    [LoggerMessage(205, LogLevel.Information, "Low-bandwidth front door listening on {Transport} {EndPoint}", EventName = "Listening")]
    public static partial void Listening(ILogger logger, string transport, EndPoint endPoint);

    [LoggerMessage(206, LogLevel.Warning, "Association limit of {Limit} reached; ignored a new peer {Peer}", EventName = "AssociationLimit")]
    public static partial void AssociationLimit(ILogger logger, int limit, EndPoint peer);

    [LoggerMessage(207, LogLevel.Debug, "DTLS handshake with {Peer} failed: {Reason}", EventName = "HandshakeFailed")]
    public static partial void HandshakeFailed(ILogger logger, EndPoint peer, string reason);

    [LoggerMessage(208, LogLevel.Debug, "DTLS association with {Peer} established (suite 0x{Suite:X4}, connection ID {ConnectionId})", EventName = "HandshakeCompleted")]
    public static partial void HandshakeCompleted(ILogger logger, EndPoint peer, int suite, string connectionId);

    [LoggerMessage(216, LogLevel.Debug, "Observation of /sync by {Peer} ended: {Reason}", EventName = "ObserveEnded")]
    public static partial void ObserveEnded(ILogger logger, EndPoint peer, string reason);

    [LoggerMessage(209, LogLevel.Information, "DTLS certificate {Certificate}; cipher suites {Suites}", EventName = "DtlsCredentials")]
    public static partial void DtlsCredentials(ILogger logger, string certificate, string suites);

    [LoggerMessage(210, LogLevel.Warning, "DTLS session secrets are written to {Path} (key log); anyone who can read it can decrypt captured traffic", EventName = "KeyLogEnabled")]
    public static partial void KeyLogEnabled(ILogger logger, string path);

    [LoggerMessage(211, LogLevel.Warning, "Could not write the DTLS key log {Path}: {Reason}", EventName = "KeyLogFailed")]
    public static partial void KeyLogFailed(ILogger logger, string path, string reason);

    [LoggerMessage(212, LogLevel.Debug, "{Count} DTLS handshakes in progress (the limit); ignored a ClientHello from {Peer}", EventName = "HandshakeLimit")]
    public static partial void HandshakeLimit(ILogger logger, int count, EndPoint peer);

    [LoggerMessage(217, LogLevel.Debug, "{Count} DTLS handshakes in progress from the network of {Peer} (the limit); ignored its ClientHello", EventName = "HandshakeNetworkLimit")]
    public static partial void HandshakeNetworkLimit(ILogger logger, int count, EndPoint peer);

    [LoggerMessage(213, LogLevel.Debug, "DTLS association with {Peer} closed: {Reason}", EventName = "AssociationClosed")]
    public static partial void AssociationClosed(ILogger logger, EndPoint peer, string reason);

    [LoggerMessage(214, LogLevel.Debug, "Record from {Peer} for no known DTLS association; answered with a fatal alert", EventName = "UnknownAssociation")]
    public static partial void UnknownAssociation(ILogger logger, EndPoint peer);

    [LoggerMessage(215, LogLevel.Debug, "DTLS peer {Peer} moved to {NewPeer} (connection ID)", EventName = "PeerMoved")]
    public static partial void PeerMoved(ILogger logger, EndPoint peer, EndPoint newPeer);
}
