using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using MessengerProxy.LowBandwidth.Diagnostics;
using Microsoft.Extensions.Logging;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;

namespace MessengerProxy.LowBandwidth.Transport;

/// <summary>
/// What the DTLS listener answers without keeping any state for the peer: HelloVerifyRequest cookies for
/// ClientHellos (RFC 6347 §4.2.1), with a secret renewed every few minutes, and fatal alerts for records of
/// associations it does not know (a client whose server restarted learns it at once), at most one per
/// source address per second so the listener is no reflector.
/// </summary>
internal sealed class StatelessReplies
{
    // RFC 4347 §4.2.1 recommends changing the cookie secret frequently; a client caught by the change
    // just gets another HelloVerifyRequest.
    private static readonly TimeSpan s_verifierLifetime = TimeSpan.FromMinutes(5);

    private static readonly TimeSpan s_alertInterval = TimeSpan.FromSeconds(1);
    private const int MaxAlertSources = 4096;

    private readonly Socket _socket;
    private readonly BcTlsCrypto _crypto;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<IPAddress, DateTimeOffset> _lastAlert = new();
    private DtlsVerifier _verifier;
    private DateTimeOffset _verifierCreated;

    public StatelessReplies(Socket socket, BcTlsCrypto crypto, TimeProvider time, ILogger logger)
    {
        _socket = socket;
        _crypto = crypto;
        _time = time;
        _logger = logger;
        _verifier = new DtlsVerifier(crypto);
        _verifierCreated = time.GetUtcNow();
    }

    /// <summary>
    /// The handshake request of a ClientHello with a valid cookie; otherwise null, and a ClientHello without
    /// one got a HelloVerifyRequest no larger than itself. A spoofed source costs one HMAC, nothing else.
    /// </summary>
    public DtlsRequest? Verify(IPEndPoint source, byte[] clientHello) =>
        Volatile.Read(ref _verifier).VerifyRequest(ClientId(source), clientHello, 0, clientHello.Length, new Replier(_socket, source));

    /// <summary>Answers a record for no known association with a fatal alert, unless this source had one less than a second ago.</summary>
    public void AlertUnknown(IPEndPoint source)
    {
        var now = _time.GetUtcNow();
        var address = source.Address;
        if (_lastAlert.TryGetValue(address, out var last) && now - last < s_alertInterval)
        {
            return;
        }

        if (_lastAlert.Count >= MaxAlertSources && !_lastAlert.ContainsKey(address))
        {
            // Many sources at once looks like a spoofing flood: stay silent rather than keep state for it.
            return;
        }

        _lastAlert[address] = now;
        Log.UnknownAssociation(_logger, source);
        try
        {
            _socket.SendTo(DtlsRecords.FatalAlert((byte)AlertDescription.unexpected_message), SocketFlags.None, source);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }
    }

    /// <summary>Renews the cookie secret when it is old and forgets alert times past their interval.</summary>
    public void Sweep()
    {
        var now = _time.GetUtcNow();
        if (now - _verifierCreated > s_verifierLifetime)
        {
            Volatile.Write(ref _verifier, new DtlsVerifier(_crypto));
            _verifierCreated = now;
        }

        foreach (var (address, at) in _lastAlert)
        {
            if (now - at >= s_alertInterval)
            {
                _lastAlert.TryRemove(new KeyValuePair<IPAddress, DateTimeOffset>(address, at));
            }
        }
    }

    /// <summary>The cookie binds the ClientHello to the address and port it came from.</summary>
    private static byte[] ClientId(IPEndPoint source)
    {
        var address = source.Address.IsIPv4MappedToIPv6 ? source.Address.MapToIPv4() : source.Address;
        var id = new byte[(address.AddressFamily == AddressFamily.InterNetwork ? 4 : 16) + 2];
        address.TryWriteBytes(id, out var written);
        BinaryPrimitives.WriteUInt16BigEndian(id.AsSpan(written), (ushort)source.Port);
        return id;
    }

    /// <summary>Sends the HelloVerifyRequest for <see cref="DtlsVerifier"/> without creating per-peer state.</summary>
    private sealed class Replier(Socket socket, IPEndPoint peer) : DatagramSender
    {
        public int GetSendLimit() => 1232;

        public void Send(byte[] buf, int off, int len) => Send(buf.AsSpan(off, len));

        public void Send(ReadOnlySpan<byte> buffer)
        {
            try
            {
                socket.SendTo(buffer, SocketFlags.None, peer);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
            }
        }
    }
}
