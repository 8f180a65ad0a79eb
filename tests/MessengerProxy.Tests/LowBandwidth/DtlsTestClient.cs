using System.Net;
using System.Net.Sockets;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;
using BcCertificateRequest = Org.BouncyCastle.Tls.CertificateRequest;

namespace MessengerProxy.Tests.LowBandwidth;

/// <summary>
/// A BouncyCastle DTLS 1.2 client for what OpenSSL's tools cannot do: RFC 9146 connection IDs, and moving
/// to a new source address mid-association (as after NAT rebinding). It trusts any server certificate:
/// certificate checks are covered by the OpenSSL tests.
/// </summary>
internal sealed class DtlsTestClient : IDisposable
{
    private readonly RebindableUdpTransport _udp;
    private readonly Client _client;

    private DtlsTestClient(RebindableUdpTransport udp, Client client, DtlsTransport dtls)
    {
        _udp = udp;
        _client = client;
        Dtls = dtls;
    }

    public DtlsTransport Dtls { get; }

    public int CipherSuite => _client.CipherSuite;

    /// <summary>The connection ID the server asked us to put in our records; null when none was negotiated.</summary>
    public byte[]? ServerConnectionId => _client.ServerConnectionId;

    public IPEndPoint LocalEndPoint => _udp.LocalEndPoint;

    public bool ReceivedCloseNotify => _client.ReceivedCloseNotify;

    /// <summary>Handshakes on a thread of its own (BouncyCastle blocks), bounded by the handshake timeout.</summary>
    /// <param name="localPort">The client's UDP port; 0: any free one.</param>
    public static Task<DtlsTestClient> ConnectAsync(IPEndPoint server, int cipherSuite, bool offerConnectionId, int localPort = 0) => Task.Factory.StartNew(
        () =>
        {
            var udp = new RebindableUdpTransport(server, localPort);
            var client = new Client(new BcTlsCrypto(new SecureRandom()), cipherSuite, offerConnectionId);
            var dtls = new DtlsClientProtocol().Connect(client, udp);
            return new DtlsTestClient(udp, client, dtls);
        },
        CancellationToken.None,
        TaskCreationOptions.LongRunning,
        TaskScheduler.Default);

    /// <summary>Sends one datagram and waits (bounded) for the next one.</summary>
    public Task<byte[]?> ExchangeAsync(byte[] request, int waitMillis = 10_000) => Task.Factory.StartNew(
        () =>
        {
            Dtls.Send(request, 0, request.Length);
            return Receive(waitMillis);
        },
        CancellationToken.None,
        TaskCreationOptions.LongRunning,
        TaskScheduler.Default);

    /// <summary>The next application datagram, or null when none came in time or the association ended.</summary>
    public byte[]? Receive(int waitMillis)
    {
        var buffer = new byte[Dtls.GetReceiveLimit()];
        try
        {
            var length = Dtls.Receive(buffer, 0, buffer.Length, waitMillis);
            return length < 0 ? null : buffer[..length];
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>Continues from a new local port, like a phone whose NAT mapping changed.</summary>
    public void Rebind() => _udp.Rebind();

    public void Dispose() => _udp.Close();

    private sealed class Client(BcTlsCrypto crypto, int cipherSuite, bool offerConnectionId) : DefaultTlsClient(crypto)
    {
        public int CipherSuite { get; private set; }

        public byte[]? ServerConnectionId { get; private set; }

        public bool ReceivedCloseNotify { get; private set; }

        public override TlsAuthentication GetAuthentication() => new TrustAnything();

        public override void NotifyAlertReceived(short alertLevel, short alertDescription) =>
            ReceivedCloseNotify |= alertDescription == AlertDescription.close_notify;

        public override void NotifyHandshakeComplete()
        {
            base.NotifyHandshakeComplete();
            CipherSuite = m_context.SecurityParameters.CipherSuite;

            // On the client, "local" is the ID it writes into its records: the server's.
            ServerConnectionId = m_context.SecurityParameters.ConnectionIDLocal is { Length: > 0 } id ? id : null;
        }

        protected override ProtocolVersion[] GetSupportedVersions() => ProtocolVersion.DTLSv12.Only();

        protected override int[] GetSupportedCipherSuites() => [cipherSuite];

        // Empty: the server's records to us need no ID, but ours to it carry the server's.
        protected override byte[]? GetNewConnectionID() => offerConnectionId ? [] : null;
    }

    private sealed class TrustAnything : TlsAuthentication
    {
        public void NotifyServerCertificate(TlsServerCertificate serverCertificate)
        {
        }

        public TlsCredentials? GetClientCredentials(BcCertificateRequest certificateRequest) => null;
    }

    /// <summary>A UDP socket towards the server that can be swapped for one on a new port between operations.</summary>
    private sealed class RebindableUdpTransport : DatagramTransport
    {
        private readonly IPEndPoint _server;
        private volatile Socket _socket;

        public RebindableUdpTransport(IPEndPoint server, int localPort)
        {
            _server = server;
            _socket = Open(localPort);
        }

        public IPEndPoint LocalEndPoint => (IPEndPoint)_socket.LocalEndPoint!;

        public void Rebind()
        {
            var old = _socket;
            _socket = Open(0);
            old.Dispose();
        }

        public int GetReceiveLimit() => 65_535;

        public int GetSendLimit() => 1400;

        public int Receive(byte[] buf, int off, int len, int waitMillis) => Receive(buf.AsSpan(off, len), waitMillis);

        public int Receive(Span<byte> buffer, int waitMillis)
        {
            var socket = _socket;
            try
            {
                if (!socket.Poll(waitMillis == 0 ? Timeout.InfiniteTimeSpan : TimeSpan.FromMilliseconds(waitMillis), SelectMode.SelectRead))
                {
                    return -1;
                }

                return socket.Receive(buffer);
            }
            catch (ObjectDisposedException)
            {
                throw new IOException("closed");
            }
        }

        public void Send(byte[] buf, int off, int len) => Send(buf.AsSpan(off, len));

        public void Send(ReadOnlySpan<byte> buffer) => _socket.SendTo(buffer, SocketFlags.None, _server);

        public void Close() => _socket.Dispose();

        private static Socket Open(int port)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            socket.Bind(new IPEndPoint(IPAddress.Loopback, port));
            return socket;
        }
    }
}
