using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Org.BouncyCastle.Tls;

namespace MessengerProxy.LowBandwidth.Transport;

/// <summary>
/// One peer's view of the shared UDP socket, for BouncyCastle's blocking record layer: the listener's
/// receive loop enqueues the peer's datagrams, <see cref="Receive(Span{byte}, int)"/> takes them off, and
/// sends go straight to the socket towards the peer's current address.
/// </summary>
internal sealed class DtlsPeerTransport : DatagramTransport
{
    // Enough for a DTLS record of the largest plaintext (2^14) plus expansion; anything larger is not DTLS.
    private const int ReceiveLimit = (1 << 14) + 2048 + 64;

    // A peer that floods faster than its thread decrypts loses datagrams, as it would on a congested link.
    private const int QueueCapacity = 64;

    private readonly Socket _socket;
    private readonly BlockingCollection<(byte[] Datagram, IPEndPoint Source)> _queue = new(QueueCapacity);
    private readonly CancellationTokenSource _closed = new();
    private readonly Lock _pendingGate = new();
    private readonly MemoryStream _pending = new();
    private volatile bool _coalescing = true;
    private volatile IPEndPoint _remote;

    public DtlsPeerTransport(Socket socket, IPEndPoint remote)
    {
        _socket = socket;
        _remote = remote;
    }

    /// <summary>Where sends go: the handshake's address, or the newest one a Connection ID record came from.</summary>
    public IPEndPoint Remote
    {
        get => _remote;
        set => _remote = value;
    }

    /// <summary>Source of the datagram the record layer took last (read on the receiving thread, in the record callback).</summary>
    public IPEndPoint? LastSource { get; private set; }

    public bool IsClosed => _closed.IsCancellationRequested;

    /// <summary>Called by the listener; false when the queue is full or the transport closed.</summary>
    public bool Enqueue(byte[] datagram, IPEndPoint source)
    {
        if (IsClosed)
        {
            return false;
        }

        try
        {
            return _queue.TryAdd((datagram, source));
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    public int GetReceiveLimit() => ReceiveLimit;

    // Handshake flights are fragmented to this; 1232 keeps IPv6 datagrams within the minimum MTU of 1280
    // (RFC 8200), 1400 fits IPv4 paths with common tunnelling overhead.
    public int GetSendLimit() => _remote.Address.IsIPv4MappedToIPv6 || _remote.AddressFamily == AddressFamily.InterNetwork ? 1400 : 1232;

    public int Receive(byte[] buf, int off, int len, int waitMillis) => Receive(buf.AsSpan(off, len), waitMillis);

    public int Receive(Span<byte> buffer, int waitMillis)
    {
        // The record layer reads only once its whole flight is written: that is when it goes out.
        Flush();
        (byte[] Datagram, IPEndPoint Source) item;
        try
        {
            // BouncyCastle's contract: zero means wait for ever.
            if (!_queue.TryTake(out item, waitMillis == 0 ? Timeout.Infinite : waitMillis, _closed.Token))
            {
                return -1;
            }
        }
        catch (OperationCanceledException)
        {
            // An IOException ends the record layer's wait loop; returning -1 would make it spin.
            throw new IOException("DTLS peer transport closed");
        }

        LastSource = item.Source;
        if (item.Datagram.Length > buffer.Length)
        {
            // The record layer discards a datagram reported larger than its buffer.
            return item.Datagram.Length;
        }

        item.Datagram.CopyTo(buffer);
        return item.Datagram.Length;
    }

    public void Send(byte[] buf, int off, int len) => Send(buf.AsSpan(off, len));

    public void Send(ReadOnlySpan<byte> buffer)
    {
        if (IsClosed)
        {
            return;
        }

        if (_coalescing)
        {
            // RFC 6347 §4.1.1: several records may share a datagram. BouncyCastle writes each handshake
            // message as its own record; packing a flight saves a datagram (and 28+ bytes) per message.
            lock (_pendingGate)
            {
                if (_pending.Length > 0 && _pending.Length + buffer.Length > GetSendLimit())
                {
                    SendNow(_pending.GetBuffer().AsSpan(0, (int)_pending.Length));
                    _pending.SetLength(0);
                }

                _pending.Write(buffer);
                return;
            }
        }

        SendNow(buffer);
    }

    /// <summary>Ends flight packing once the handshake is over: application data goes out at once.</summary>
    public void StopCoalescing()
    {
        Flush();
        _coalescing = false;
        Flush();
    }

    private void Flush()
    {
        lock (_pendingGate)
        {
            if (_pending.Length > 0)
            {
                SendNow(_pending.GetBuffer().AsSpan(0, (int)_pending.Length));
                _pending.SetLength(0);
            }
        }
    }

    private void SendNow(ReadOnlySpan<byte> buffer)
    {
        try
        {
            _socket.SendTo(buffer, SocketFlags.None, _remote);
        }
        catch (SocketException)
        {
            // UDP: a lost datagram is the record layer's (handshake) or CoAP's (data) problem, not a failure.
        }
        catch (ObjectDisposedException)
        {
        }
    }

    public void Close()
    {
        if (!_closed.IsCancellationRequested)
        {
            try
            {
                _closed.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }
}
