using System.Text.Json;

namespace MessengerProxy.Policy.Federation;

/// <summary>Decides whether a server name found inside a transaction may be named (the federation list, the own server).</summary>
internal interface IServerNameFilter
{
    /// <param name="serverName"><c>host[:port]</c>, syntactically valid.</param>
    bool Allows(ReadOnlySpan<char> serverName);
}

internal enum TransactionScanVerdict
{
    /// <summary>Every server name the transaction names is allowed.</summary>
    Clean,

    /// <summary>A server name the filter does not allow (<see cref="TransactionScan.ServerName"/>).</summary>
    Unlisted,

    /// <summary>JSON, but not a transaction the scanner can vouch for: a member of the wrong type or repeated, a value that is no user ID.</summary>
    Malformed,

    /// <summary>Not JSON at all.</summary>
    NotJson,
}

/// <summary>The outcome of <see cref="TransactionScanner.Scan{TFilter}"/>; strings are only made for refusals.</summary>
/// <param name="Field">Where the refused value was, e.g. <c>pdus[3].sender</c> (never the value itself); null for the whole body.</param>
/// <param name="Problem">What is wrong with a malformed value.</param>
internal readonly record struct TransactionScan(TransactionScanVerdict Verdict, int Pdus, int Edus, string? ServerName = null, string? Field = null, string? Problem = null);

/// <summary>
/// Reads a federation transaction (<c>PUT /_matrix/federation/v1/send/{txnId}</c>, server-server API
/// "Transactions") in one forward pass with <see cref="Utf8JsonReader"/> — no document, no allocation while
/// everything is allowed — and hands every server name it names to a filter: the transaction's <c>origin</c>;
/// each PDU's <c>sender</c>, <c>origin</c> (older room versions) and, for <c>m.room.member</c>, its
/// <c>state_key</c>; and the user IDs of the EDUs the spec defines: <c>m.typing</c> and <c>m.device_list_update</c>
/// and <c>m.signing_key_update</c> (<c>user_id</c>), <c>m.presence</c> (<c>push[].user_id</c>), <c>m.receipt</c>
/// (the user IDs keying <c>content.{roomId}.{receiptType}</c>) and <c>m.direct_to_device</c> (<c>sender</c> and
/// the user IDs keying <c>messages</c>). Other EDU types and other members are skipped unread.
/// </summary>
/// <remarks>
/// Strings are compared and checked decoded, as the homeserver decodes them: <c>"\u0040evil:bad.example"</c> is
/// <c>@evil:bad.example</c>, an escaped member name <c>"s\u0065nder"</c> is <c>sender</c>; percent-escapes mean
/// nothing in JSON and stay what they are (so <c>bad%2Eexample</c> is no server name). A member the decision
/// depends on (<c>sender</c>, <c>type</c>, <c>state_key</c>, <c>edu_type</c>, <c>content</c>, <c>origin</c>,
/// <c>pdus</c>, <c>edus</c>) may appear once per object: parsers keep the first or the last of two, and the
/// scanner must not check one while the homeserver reads the other. Maps keyed by user ID need no such rule,
/// since every key is checked. An absent member names nothing and passes (the homeserver refuses the PDU).
/// </remarks>
internal static class TransactionScanner
{
    // The body checks in front of the scanner limit depth already (128); the scanner must never be stricter.
    private const int MaxDepth = 256;

    // Synapse refuses user IDs over 255 bytes; escapes can make their JSON form longer, up to 6 bytes a character.
    private const int MaxIdJsonBytes = 6 * 255;

    private const string NotUserId = "not a Matrix user ID";
    private const string NotServerName = "not a Matrix server name";

    private static readonly JsonReaderOptions s_options = new() { MaxDepth = MaxDepth };

    private enum EduKind
    {
        Unknown,
        UserIdMember,
        Presence,
        Receipt,
        DirectToDevice,
    }

    [Flags]
    private enum Seen
    {
        None = 0,
        Origin = 1,
        Pdus = 2,
        Edus = 4,
        Sender = 8,
        Type = 16,
        StateKey = 32,
        EduType = 64,
        Content = 128,
    }

    private enum IdKind
    {
        UserId,
        ServerName,
    }

    public static TransactionScan Scan<TFilter>(ReadOnlySpan<byte> json, TFilter filter)
        where TFilter : IServerNameFilter
    {
        var reader = new Utf8JsonReader(json, s_options);
        try
        {
            return ScanTransaction(ref reader, filter);
        }
        catch (JsonException)
        {
            return new TransactionScan(TransactionScanVerdict.NotJson, 0, 0);
        }
    }

    private static TransactionScan ScanTransaction<TFilter>(ref Utf8JsonReader reader, TFilter filter)
        where TFilter : IServerNameFilter
    {
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            return Malformed(0, 0, null, "A transaction must be a JSON object");
        }

        var seen = Seen.None;
        int pdus = 0, edus = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("origin"u8))
            {
                if (Repeated(ref seen, Seen.Origin))
                {
                    return Malformed(pdus, edus, "origin", "repeated");
                }

                reader.Read();
                if (Check(ref reader, filter, IdKind.ServerName, pdus, edus, "origin") is { } refused)
                {
                    return refused;
                }
            }
            else if (reader.ValueTextEquals("pdus"u8) || reader.ValueTextEquals("edus"u8))
            {
                var isPdus = reader.ValueTextEquals("pdus"u8);
                var name = isPdus ? "pdus" : "edus";
                if (Repeated(ref seen, isPdus ? Seen.Pdus : Seen.Edus))
                {
                    return Malformed(pdus, edus, name, "repeated");
                }

                reader.Read();
                if (reader.TokenType != JsonTokenType.StartArray)
                {
                    return Malformed(pdus, edus, name, "must be an array of objects");
                }

                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    var index = isPdus ? pdus : edus;
                    if (reader.TokenType != JsonTokenType.StartObject)
                    {
                        return Malformed(pdus, edus, $"{name}[{index}]", "must be an object");
                    }

                    var item = isPdus ? ScanPdu(ref reader, filter, pdus, edus) : ScanEdu(ref reader, filter, pdus, edus);
                    if (item is { } refused)
                    {
                        return refused;
                    }

                    if (isPdus)
                    {
                        pdus++;
                    }
                    else
                    {
                        edus++;
                    }
                }
            }
            else
            {
                reader.Skip();
            }
        }

        return new TransactionScan(TransactionScanVerdict.Clean, pdus, edus);
    }

    private static TransactionScan? ScanPdu<TFilter>(ref Utf8JsonReader reader, TFilter filter, int pdus, int edus)
        where TFilter : IServerNameFilter
    {
        var seen = Seen.None;
        var isMember = false;
        var stateKey = default(Utf8JsonReader);
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("sender"u8) || reader.ValueTextEquals("origin"u8))
            {
                var isSender = reader.ValueTextEquals("sender"u8);
                var member = isSender ? "sender" : "origin";
                if (Repeated(ref seen, isSender ? Seen.Sender : Seen.Origin))
                {
                    return Malformed(pdus, edus, $"pdus[{pdus}].{member}", "repeated");
                }

                reader.Read();
                if (Check(ref reader, filter, isSender ? IdKind.UserId : IdKind.ServerName, pdus, edus, "pdus", pdus, member) is { } refused)
                {
                    return refused;
                }
            }
            else if (reader.ValueTextEquals("type"u8))
            {
                if (Repeated(ref seen, Seen.Type))
                {
                    return Malformed(pdus, edus, $"pdus[{pdus}].type", "repeated");
                }

                reader.Read();
                if (reader.TokenType != JsonTokenType.String)
                {
                    return Malformed(pdus, edus, $"pdus[{pdus}].type", "must be a string");
                }

                isMember = reader.ValueTextEquals("m.room.member"u8);
            }
            else if (reader.ValueTextEquals("state_key"u8))
            {
                if (Repeated(ref seen, Seen.StateKey))
                {
                    return Malformed(pdus, edus, $"pdus[{pdus}].state_key", "repeated");
                }

                // Whether it is a user ID depends on the type, which may come later: the reader is kept at the value.
                reader.Read();
                stateKey = reader;
                reader.Skip();
            }
            else
            {
                reader.Skip();
            }
        }

        return isMember && (seen & Seen.StateKey) != 0
            ? Check(ref stateKey, filter, IdKind.UserId, pdus, edus, "pdus", pdus, "state_key")
            : null;
    }

    private static TransactionScan? ScanEdu<TFilter>(ref Utf8JsonReader reader, TFilter filter, int pdus, int edus)
        where TFilter : IServerNameFilter
    {
        var seen = Seen.None;
        var kind = EduKind.Unknown;
        var content = default(Utf8JsonReader);
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("edu_type"u8))
            {
                if (Repeated(ref seen, Seen.EduType))
                {
                    return Malformed(pdus, edus, $"edus[{edus}].edu_type", "repeated");
                }

                reader.Read();
                if (reader.TokenType != JsonTokenType.String)
                {
                    return Malformed(pdus, edus, $"edus[{edus}].edu_type", "must be a string");
                }

                kind = KindOf(ref reader);
            }
            else if (reader.ValueTextEquals("content"u8))
            {
                if (Repeated(ref seen, Seen.Content))
                {
                    return Malformed(pdus, edus, $"edus[{edus}].content", "repeated");
                }

                // Which members to read depends on edu_type, which may come later: the reader is kept at the value.
                reader.Read();
                content = reader;
                reader.Skip();
            }
            else
            {
                reader.Skip();
            }
        }

        if (kind == EduKind.Unknown || (seen & Seen.Content) == 0)
        {
            return null;
        }

        return content.TokenType == JsonTokenType.StartObject
            ? ScanEduContent(ref content, filter, kind, pdus, edus)
            : Malformed(pdus, edus, $"edus[{edus}].content", "must be an object");
    }

    private static EduKind KindOf(ref Utf8JsonReader reader) =>
        reader.ValueTextEquals("m.typing"u8) || reader.ValueTextEquals("m.device_list_update"u8) || reader.ValueTextEquals("m.signing_key_update"u8)
            ? EduKind.UserIdMember
            : reader.ValueTextEquals("m.presence"u8) ? EduKind.Presence
            : reader.ValueTextEquals("m.receipt"u8) ? EduKind.Receipt
            : reader.ValueTextEquals("m.direct_to_device"u8) ? EduKind.DirectToDevice
            : EduKind.Unknown;

    // The reader is on the content's StartObject; on return it is on the matching EndObject.
    private static TransactionScan? ScanEduContent<TFilter>(ref Utf8JsonReader reader, TFilter filter, EduKind kind, int pdus, int edus)
        where TFilter : IServerNameFilter
    {
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            TransactionScan? refused;
            if ((kind == EduKind.UserIdMember && reader.ValueTextEquals("user_id"u8))
                || (kind == EduKind.DirectToDevice && reader.ValueTextEquals("sender"u8)))
            {
                var member = kind == EduKind.UserIdMember ? "content.user_id" : "content.sender";
                reader.Read();
                refused = Check(ref reader, filter, IdKind.UserId, pdus, edus, "edus", edus, member);
            }
            else if (kind == EduKind.DirectToDevice && reader.ValueTextEquals("messages"u8))
            {
                reader.Read();
                refused = CheckKeys(ref reader, filter, pdus, edus, "content.messages");
            }
            else if (kind == EduKind.Presence && reader.ValueTextEquals("push"u8))
            {
                refused = ScanPresencePush(ref reader, filter, pdus, edus);
            }
            else if (kind == EduKind.Receipt)
            {
                // content.{roomId}.{receiptType}.{userId}: every room, every receipt type, every user.
                reader.Read();
                refused = reader.TokenType == JsonTokenType.StartObject ? null : Malformed(pdus, edus, $"edus[{edus}].content", "each room must map receipt types to objects");
                while (refused is null && reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    reader.Read();
                    refused = CheckKeys(ref reader, filter, pdus, edus, "content.{room}.{receipt type}");
                }
            }
            else
            {
                reader.Skip();
                refused = null;
            }

            if (refused is not null)
            {
                return refused;
            }
        }

        return null;
    }

    private static TransactionScan? ScanPresencePush<TFilter>(ref Utf8JsonReader reader, TFilter filter, int pdus, int edus)
        where TFilter : IServerNameFilter
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            return Malformed(pdus, edus, $"edus[{edus}].content.push", "must be an array of objects");
        }

        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                return Malformed(pdus, edus, $"edus[{edus}].content.push", "must be an array of objects");
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (!reader.ValueTextEquals("user_id"u8))
                {
                    reader.Skip();
                    continue;
                }

                reader.Read();
                if (Check(ref reader, filter, IdKind.UserId, pdus, edus, "edus", edus, "content.push[].user_id") is { } refused)
                {
                    return refused;
                }
            }
        }

        return null;
    }

    // The reader is on the value of an object keyed by user ID; every key is checked and every value skipped.
    private static TransactionScan? CheckKeys<TFilter>(ref Utf8JsonReader reader, TFilter filter, int pdus, int edus, string member)
        where TFilter : IServerNameFilter
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            return Malformed(pdus, edus, $"edus[{edus}].{member}", "must be an object keyed by user ID");
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (Check(ref reader, filter, IdKind.UserId, pdus, edus, "edus", edus, member) is { } refused)
            {
                return refused;
            }

            reader.Skip();
        }

        return null;
    }

    private static TransactionScan? Check<TFilter>(ref Utf8JsonReader reader, TFilter filter, IdKind kind, int pdus, int edus, string container, int index, string member)
        where TFilter : IServerNameFilter =>
        CheckValue(ref reader, filter, kind, pdus, edus, null, container, index, member);

    private static TransactionScan? Check<TFilter>(ref Utf8JsonReader reader, TFilter filter, IdKind kind, int pdus, int edus, string field)
        where TFilter : IServerNameFilter =>
        CheckValue(ref reader, filter, kind, pdus, edus, field, null, 0, null);

    // The field is described only when something is refused, so an allowed transaction allocates nothing.
    private static TransactionScan? CheckValue<TFilter>(ref Utf8JsonReader reader, TFilter filter, IdKind kind, int pdus, int edus,
        string? field, string? container, int index, string? member)
        where TFilter : IServerNameFilter
    {
        var problem = kind == IdKind.UserId ? NotUserId : NotServerName;
        if (reader.TokenType is not (JsonTokenType.String or JsonTokenType.PropertyName) || reader.ValueSpan.Length > MaxIdJsonBytes)
        {
            return Malformed(pdus, edus, field ?? $"{container}[{index}].{member}", problem);
        }

        Span<char> decoded = stackalloc char[MaxIdJsonBytes];
        int length;
        try
        {
            length = reader.CopyString(decoded);
        }
        catch (InvalidOperationException)
        {
            // Invalid UTF-8 or an escaped lone surrogate: no character string at all, so no server name either.
            return Malformed(pdus, edus, field ?? $"{container}[{index}].{member}", problem);
        }

        var text = decoded[..length];
        scoped ReadOnlySpan<char> serverName;
        if (kind == IdKind.UserId)
        {
            if (!ServerNames.TryGetUserServerName(text, out serverName))
            {
                return Malformed(pdus, edus, field ?? $"{container}[{index}].{member}", problem);
            }
        }
        else if (ServerNames.TryGetHost(text, out _))
        {
            serverName = text;
        }
        else
        {
            return Malformed(pdus, edus, field ?? $"{container}[{index}].{member}", problem);
        }

        return filter.Allows(serverName)
            ? null
            : new TransactionScan(TransactionScanVerdict.Unlisted, pdus, edus, serverName.ToString(), field ?? $"{container}[{index}].{member}");
    }

    private static bool Repeated(ref Seen seen, Seen member)
    {
        var repeated = (seen & member) != 0;
        seen |= member;
        return repeated;
    }

    private static TransactionScan Malformed(int pdus, int edus, string? field, string problem) =>
        new(TransactionScanVerdict.Malformed, pdus, edus, Field: field, Problem: problem);
}
