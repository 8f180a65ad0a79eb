using System.Security.Cryptography;
using MessengerProxy.LowBandwidth.Diagnostics;
using Microsoft.Extensions.Logging;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;

namespace MessengerProxy.LowBandwidth.Transport;

/// <summary>
/// BouncyCastle's server side of one DTLS handshake: DTLS 1.2 only (pion, lb's DTLS stack, has nothing
/// newer), cipher suites matching the key, RFC 9146 connection IDs, a bounded handshake, corrupt records
/// dropped silently rather than tearing the association down.
/// </summary>
internal sealed class DtlsCoapServer : DefaultTlsServer
{
    private readonly BcTlsCrypto _crypto;
    private readonly DtlsCredentials _credentials;
    private readonly int _handshakeTimeoutMillis;
    private readonly DtlsKeyLog? _keyLog;
    private readonly ILogger _logger;

    public DtlsCoapServer(BcTlsCrypto crypto, DtlsCredentials credentials, TimeSpan handshakeTimeout, DtlsKeyLog? keyLog, ILogger logger)
        : base(crypto)
    {
        _crypto = crypto;
        _credentials = credentials;
        _handshakeTimeoutMillis = (int)Math.Clamp(handshakeTimeout.TotalMilliseconds, 1, int.MaxValue);
        _keyLog = keyLog;
        _logger = logger;
    }

    /// <summary>The connection ID the client puts in its records to us; null when the client did not negotiate one.</summary>
    public byte[]? ConnectionId { get; private set; }

    public int NegotiatedCipherSuite { get; private set; }

    public byte[]? ClientRandom { get; private set; }

    /// <summary>Why the handshake failed, from the alert raised or received (BouncyCastle's exceptions say less).</summary>
    public string? AlertReason { get; private set; }

    public override bool IgnoreCorruptDtlsRecords => true;

    // BouncyCastle's default 0 means "never give up", which would let a silent peer hold a thread for ever.
    public override int GetHandshakeTimeoutMillis() => _handshakeTimeoutMillis;

    protected override ProtocolVersion[] GetSupportedVersions() => ProtocolVersion.DTLSv12.Only();

    protected override int[] GetSupportedCipherSuites() => TlsUtilities.GetSupportedCipherSuites(Crypto, _credentials.CipherSuites);

    protected override TlsCredentialedSigner? GetECDsaSignerCredentials() =>
        _credentials.IsEcdsa ? _credentials.CreateSigner(m_context, _crypto) : null;

    protected override TlsCredentialedSigner? GetRsaSignerCredentials() =>
        _credentials.IsEcdsa ? null : _credentials.CreateSigner(m_context, _crypto);

    // Only used when the client offers the connection_id extension; lets the association follow the client
    // across NAT rebinding and network changes (RFC 9146), which lb's pion version could not.
    protected override byte[] GetNewConnectionID() => RandomNumberGenerator.GetBytes(DtlsRecords.ConnectionIdLength);

    // BouncyCastle refuses clients without RFC 5746 renegotiation_info by default. The attack it prevents
    // needs a renegotiation, which BouncyCastle's DTLS never does, and some constrained DTLS stacks
    // (tinydtls) do not send the extension; so such clients are accepted.
    public override void NotifySecureRenegotiation(bool secureRenegotiation)
    {
    }

    public override void NotifyAlertRaised(short alertLevel, short alertDescription, string message, Exception cause)
    {
        if (alertLevel == AlertLevel.fatal)
        {
            AlertReason ??= $"sent {AlertDescription.GetText(alertDescription)}{(message is null ? string.Empty : ": " + message)}";
        }
    }

    public override void NotifyAlertReceived(short alertLevel, short alertDescription)
    {
        AlertReason ??= $"received {AlertLevel.GetText(alertLevel)} {AlertDescription.GetText(alertDescription)}";
    }

    public override void NotifyHandshakeComplete()
    {
        base.NotifyHandshakeComplete();
        var parameters = m_context.SecurityParameters;
        NegotiatedCipherSuite = parameters.CipherSuite;
        ClientRandom = parameters.ClientRandom;

        // On the server, "peer" is the ID the peer sends to us: the one GetNewConnectionID made.
        ConnectionId = parameters.ConnectionIDPeer is { Length: > 0 } cid ? cid : null;

        if (_keyLog is not null)
        {
            try
            {
                // The master secret is cleared when Accept returns, and Extract() destroys the secret it is
                // called on, so extract a copy here, while the handshake still holds it.
                var masterSecret = Crypto.AdoptSecret(parameters.MasterSecret).Extract();
                _keyLog.Write(parameters.ClientRandom, masterSecret);
                CryptographicOperations.ZeroMemory(masterSecret);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidOperationException)
            {
                Log.KeyLogFailed(_logger, _keyLog.Path, ex.Message);
            }
        }
    }
}
