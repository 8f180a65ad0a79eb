using System.Collections.Concurrent;
using System.Net;

namespace MessengerProxy.LowBandwidth.Transport;

/// <summary>
/// Where the DTLS listener sends each datagram: the session of its source address, or of the RFC 9146
/// connection ID it carries. Only sessions past the cookie exchange are here.
/// </summary>
internal sealed class DtlsRoutes
{
    private readonly ConcurrentDictionary<IPEndPoint, DtlsSession> _byAddress = new();
    private readonly ConcurrentDictionary<ulong, DtlsSession> _byConnectionId = new();

    /// <summary>Peers with per-peer state: handshakes in progress and associations.</summary>
    public int PeerCount => _byAddress.Count;

    /// <summary>Every session, once each.</summary>
    public IEnumerable<DtlsSession> Sessions => _byAddress.Values.Distinct();

    public bool TryGet(IPEndPoint source, out DtlsSession session) => _byAddress.TryGetValue(source, out session!);

    public bool TryGet(ulong connectionId, out DtlsSession session) => _byConnectionId.TryGetValue(connectionId, out session!);

    /// <summary>Routes <paramref name="source"/> to <paramref name="session"/>; false when another session has it.</summary>
    public bool TryAdd(IPEndPoint source, DtlsSession session) => _byAddress.TryAdd(source, session);

    /// <summary>Records from <paramref name="connectionId"/> go to <paramref name="session"/> from now on, whatever their address.</summary>
    public void AddConnectionId(ulong connectionId, DtlsSession session) => _byConnectionId.TryAdd(connectionId, session);

    /// <summary>The session's peer moved (a connection ID record from a new address): its old address no longer routes to it.</summary>
    public void Move(DtlsSession session, IPEndPoint from, IPEndPoint to)
    {
        _byAddress.TryRemove(new KeyValuePair<IPEndPoint, DtlsSession>(from, session));
        _byAddress[to] = session;
    }

    /// <summary>Removes the session's routes (only its own: a newer session may already have its address).</summary>
    public void Forget(DtlsSession session) => Forget(session, session.Transport.Remote);

    public void Forget(DtlsSession session, IPEndPoint address)
    {
        _byAddress.TryRemove(new KeyValuePair<IPEndPoint, DtlsSession>(address, session));
        if (session.ConnectionId is { } cid)
        {
            _byConnectionId.TryRemove(new KeyValuePair<ulong, DtlsSession>(cid, session));
        }
    }
}
