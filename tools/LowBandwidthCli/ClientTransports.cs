using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;

namespace MessengerProxy.LowBandwidthCli;

/// <summary>Datagrams to and from the front door.</summary>
internal interface IClientTransport : IDisposable
{
    void Send(ReadOnlySpan<byte> datagram);

    /// <summary>The next datagram, or null when none arrives within <paramref name="wait"/>.</summary>
    byte[]? Receive(TimeSpan wait);
}

/// <summary>Plain CoAP over UDP, for a test listener.</summary>
internal sealed class UdpClientTransport : IClientTransport
{
    private readonly Socket _socket;

    public UdpClientTransport(IPEndPoint server)
    {
        _socket = new Socket(server.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        _socket.Connect(server);
    }

    public void Send(ReadOnlySpan<byte> datagram) => _socket.Send(datagram);

    public byte[]? Receive(TimeSpan wait)
    {
        if (!_socket.Poll(wait, SelectMode.SelectRead))
        {
            return null;
        }

        var buffer = new byte[65_536];
        try
        {
            var length = _socket.Receive(buffer);
            return buffer[..length];
        }
        catch (SocketException)
        {
            // ICMP port unreachable: as good as no answer.
            return null;
        }
    }

    public void Dispose() => _socket.Dispose();
}

/// <summary>CoAP over DTLS 1.2 with BouncyCastle's client, verifying the server's chain against a CA file unless told not to.</summary>
internal sealed class DtlsClientTransport : IClientTransport
{
    private readonly UdpDatagramTransport _udp;
    private readonly DtlsTransport _dtls;

    public DtlsClientTransport(IPEndPoint server, string? caPath, bool insecure, TimeSpan handshakeTimeout)
    {
        _udp = new UdpDatagramTransport(server);
        var crypto = new BcTlsCrypto(new SecureRandom());
        var roots = new X509Certificate2Collection();
        if (caPath is not null)
        {
            roots.ImportFromPemFile(caPath);
        }

        var client = new Client(crypto, roots, insecure, (int)handshakeTimeout.TotalMilliseconds);
        try
        {
            _dtls = new DtlsClientProtocol().Connect(client, _udp);
        }
        finally
        {
            _udp.StopCoalescing();
        }
    }

    public void Send(ReadOnlySpan<byte> datagram) => _dtls.Send(datagram.ToArray(), 0, datagram.Length);

    public byte[]? Receive(TimeSpan wait)
    {
        var buffer = new byte[_dtls.GetReceiveLimit()];
        var length = _dtls.Receive(buffer, 0, buffer.Length, Math.Max(1, (int)wait.TotalMilliseconds));
        return length < 0 ? null : buffer[..length];
    }

    public void Dispose()
    {
        try
        {
            _dtls.Close();
        }
        catch (IOException)
        {
        }

        _udp.Close();
    }

    private sealed class Client(TlsCrypto crypto, X509Certificate2Collection roots, bool insecure, int handshakeTimeoutMillis) : DefaultTlsClient(crypto)
    {
        public override int GetHandshakeTimeoutMillis() => handshakeTimeoutMillis;

        protected override ProtocolVersion[] GetSupportedVersions() => ProtocolVersion.DTLSv12.Only();

        protected override int[] GetSupportedCipherSuites() => TlsUtilities.GetSupportedCipherSuites(Crypto,
        [
            CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8,
            CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        ]);

        public override TlsAuthentication GetAuthentication() => new Authentication(roots, insecure);

        // Every byte of the ClientHello is paid twice (it is repeated with the cookie): offer what the front
        // door uses and nothing more.
        protected override IList<int> GetSupportedGroups(IList<int> namedGroupRoles) => [NamedGroup.x25519, NamedGroup.secp256r1];

        protected override IList<SignatureAndHashAlgorithm> GetSupportedSignatureAlgorithms() =>
        [
            SignatureAndHashAlgorithm.GetInstance(HashAlgorithm.sha256, SignatureAlgorithm.ecdsa),
            SignatureAndHashAlgorithm.rsa_pss_rsae_sha256,
            SignatureAndHashAlgorithm.GetInstance(HashAlgorithm.sha256, SignatureAlgorithm.rsa),
        ];
    }

    private sealed class Authentication(X509Certificate2Collection roots, bool insecure) : TlsAuthentication
    {
        public void NotifyServerCertificate(TlsServerCertificate serverCertificate)
        {
            if (insecure)
            {
                return;
            }

            var chain = serverCertificate.Certificate.GetCertificateList();
            if (chain.Length == 0)
            {
                throw new TlsFatalAlert(AlertDescription.bad_certificate);
            }

            using var leaf = X509CertificateLoader.LoadCertificate(chain[0].GetEncoded());

            // A self-signed server certificate given as --ca is pinned: trusted as exactly itself.
            if (roots.Any(root => root.RawDataMemory.Span.SequenceEqual(leaf.RawDataMemory.Span)))
            {
                return;
            }

            using var builder = new X509Chain();
            builder.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            builder.ChainPolicy.CustomTrustStore.AddRange(roots);
            builder.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            foreach (var extra in chain.Skip(1))
            {
                builder.ChainPolicy.ExtraStore.Add(X509CertificateLoader.LoadCertificate(extra.GetEncoded()));
            }

            if (!builder.Build(leaf))
            {
                throw new TlsFatalAlert(AlertDescription.bad_certificate);
            }
        }

        public TlsCredentials GetClientCredentials(Org.BouncyCastle.Tls.CertificateRequest certificateRequest) => null!;
    }

    /// <summary>BouncyCastle's view of a connected UDP socket; packs each handshake flight into as few datagrams as fit.</summary>
    private sealed class UdpDatagramTransport : DatagramTransport
    {
        private readonly Socket _socket;
        private readonly MemoryStream _pending = new();
        private bool _coalescing = true;

        public UdpDatagramTransport(IPEndPoint server)
        {
            _socket = new Socket(server.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            _socket.Connect(server);
        }

        public int GetReceiveLimit() => 65_507;

        public int GetSendLimit() => 1_400;

        public int Receive(byte[] buf, int off, int len, int waitMillis) => Receive(buf.AsSpan(off, len), waitMillis);

        public int Receive(Span<byte> buffer, int waitMillis)
        {
            Flush();
            if (!_socket.Poll(TimeSpan.FromMilliseconds(waitMillis == 0 ? int.MaxValue : waitMillis), SelectMode.SelectRead))
            {
                return -1;
            }

            try
            {
                return _socket.Receive(buffer);
            }
            catch (SocketException)
            {
                return -1;
            }
        }

        public void Send(byte[] buf, int off, int len) => Send(buf.AsSpan(off, len));

        public void Send(ReadOnlySpan<byte> buffer)
        {
            if (!_coalescing)
            {
                _socket.Send(buffer);
                return;
            }

            if (_pending.Length > 0 && _pending.Length + buffer.Length > GetSendLimit())
            {
                Flush();
            }

            _pending.Write(buffer);
        }

        public void StopCoalescing()
        {
            Flush();
            _coalescing = false;
        }

        private void Flush()
        {
            if (_pending.Length == 0)
            {
                return;
            }

            try
            {
                _socket.Send(_pending.GetBuffer().AsSpan(0, (int)_pending.Length));
            }
            catch (Exception ex) when (ex is ObjectDisposedException or SocketException)
            {
                // Closed after a failed handshake, or the server is gone: nothing left to deliver.
            }

            _pending.SetLength(0);
        }

        public void Close() => _socket.Dispose();
    }
}
