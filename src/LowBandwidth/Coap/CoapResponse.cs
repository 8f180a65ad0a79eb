namespace MessengerProxy.LowBandwidth.Coap;

/// <summary>The answer to a request, before it is framed as ACK, CON or NON.</summary>
internal sealed class CoapResponse(byte code)
{
    public byte Code { get; } = code;

    public List<CoapOption> Options { get; } = [];

    public ReadOnlyMemory<byte> Payload { get; set; }

    /// <summary>The Content-Format option's value, if it has one.</summary>
    public ushort? ContentFormat
    {
        get
        {
            foreach (var option in Options)
            {
                if (option.Number == CoapOptionNumbers.ContentFormat)
                {
                    return (ushort)option.UIntValue;
                }
            }

            return null;
        }
    }

    public CoapMessage ToMessage(CoapType type, ushort messageId, ReadOnlyMemory<byte> token)
    {
        var message = new CoapMessage { Type = type, Code = Code, MessageId = messageId, Token = token, Payload = Payload };
        foreach (var option in Options)
        {
            message.Add(option);
        }

        return message;
    }
}
