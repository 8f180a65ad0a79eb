namespace MessengerProxy.LowBandwidth.Association;

/// <summary>Sends datagrams to one peer, over DTLS or plain UDP.</summary>
internal interface IDatagramSink
{
    ValueTask SendAsync(ReadOnlyMemory<byte> datagram, CancellationToken cancellationToken);
}
