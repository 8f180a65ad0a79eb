using System.Text;
using System.Text.Json;
using MessengerProxy.Inbound.Configuration;
using MessengerProxy.Inbound.Diagnostics;
using MessengerProxy.Inbound.Pipeline;
using MessengerProxy.Pipeline.Http;
using MessengerProxy.Policy;
using MessengerProxy.Policy.Endpoints;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Inbound.Policies.Tim;

/// <summary>
/// The TIM room and content rules that look inside request bodies, on the one JSON parse the body stage shares
/// (duplicate members already refused, so every rule reads the member the homeserver will keep):
/// <list type="bullet">
/// <item><c>room-version</c> (A_26202, A_26203): createRoom's <c>room_version</c> and an upgrade's <c>new_version</c>
/// must be allowed (400 <c>M_UNSUPPORTED_ROOM_VERSION</c>); createRoom without one gets the default, written in.</item>
/// <item><c>single-invitee</c> (A_25368-01): createRoom invites at most one user, counting <c>invite</c> and the
/// invites among <c>initial_state</c> (403 <c>M_FORBIDDEN</c>).</item>
/// <item><c>forbidden-room-type</c> (A_28596): no <c>creation_content.type</c> <c>de.gematik.tim.roomtype.default.v2</c>
/// (400 <c>M_BAD_JSON</c>).</item>
/// <item><c>public-room-not-federated</c> (A_26515-01): a public room (<c>visibility: public</c>, <c>preset:
/// public_chat</c>, or a public join rule in <c>initial_state</c>) gets <c>creation_content["m.federate"] = false</c>,
/// written in.</item>
/// <item><c>public-join-rule</c> (A_28271): no <c>m.room.join_rules</c> state event with <c>join_rule: public</c>
/// (400 <c>M_INVALID_ROOM_STATE</c>).</item>
/// <item><c>no-threads</c> (A_25395-02): no <c>m.relates_to.rel_type: m.thread</c> on <c>/send</c> (400 <c>M_FORBIDDEN</c>).</item>
/// <item><c>reaction-single-emoji</c> (A_26228-01): an <c>m.reaction</c> is an <c>m.annotation</c> whose key is
/// exactly one emoji (400 <c>M_BAD_JSON</c>).</item>
/// <item><c>status-message-length</c>: presence <c>status_msg</c> at most <c>Tim:MaxStatusMessageLength</c> code
/// points (403 <c>M_TOO_LARGE</c>).</item>
/// </list>
/// Event types in paths are compared percent-decoded, as the homeserver reads them (<c>m%2Eroom.join_rules</c>).
/// Rewrites splice the few bytes they change into the body (<see cref="JsonSplice"/>); everything else is forwarded
/// as sent.
/// </summary>
internal sealed class TimContentPolicy : IInboundPolicy
{
    private const string ForbiddenRoomType = "de.gematik.tim.roomtype.default.v2";
    private const string JoinRulesEventType = "m.room.join_rules";
    private const string MemberEventType = "m.room.member";
    private const string ReactionEventType = "m.reaction";

    private static readonly MatrixError s_notAnObject = BadJson("Request body must be a JSON object");
    private static readonly MatrixError s_notJson = BadJson("Request body is not valid JSON or repeats a member");

    private readonly EmojiTable _emoji;
    private readonly InboundMetrics _metrics;
    private readonly ILogger _logger;
    private readonly string[] _allowedVersions;
    private readonly MatrixError _unsupportedVersion;
    private readonly byte[] _defaultVersionMember;
    private readonly int _maxStatusLength;
    private readonly MatrixError _statusTooLong;
    private readonly bool _roomVersion;
    private readonly bool _singleInvitee;
    private readonly bool _forbiddenRoomType;
    private readonly bool _publicNotFederated;
    private readonly bool _publicJoinRule;
    private readonly bool _noThreads;
    private readonly bool _reactions;
    private readonly bool _statusLength;

    public TimContentPolicy(IOptions<TimOptions> options, TimRulebook rulebook, EmojiTable emoji, InboundMetrics metrics, ILogger<TimContentPolicy> logger)
    {
        var settings = options.Value;
        _emoji = emoji;
        _metrics = metrics;
        _logger = logger;
        _allowedVersions = [.. settings.RoomVersions.EffectiveAllowed];
        _unsupportedVersion = new MatrixError(400, MatrixErrorCode.UnsupportedRoomVersion,
            $"This server only creates rooms of version {string.Join(" or ", _allowedVersions)}");
        // The default is checked at start-up to be a room version (a-z, 0-9, '.', '-'): nothing to escape.
        _defaultVersionMember = Encoding.UTF8.GetBytes($"\"room_version\":\"{settings.RoomVersions.Default}\"");
        _maxStatusLength = settings.MaxStatusMessageLength;
        _statusTooLong = new MatrixError(403, MatrixErrorCode.TooLarge, $"status_msg is longer than {_maxStatusLength} characters");
        _roomVersion = rulebook.IsEnabled(TimRules.RoomVersion);
        _singleInvitee = rulebook.IsEnabled(TimRules.SingleInvitee);
        _forbiddenRoomType = rulebook.IsEnabled(TimRules.ForbiddenRoomType);
        _publicNotFederated = rulebook.IsEnabled(TimRules.PublicRoomNotFederated);
        _publicJoinRule = rulebook.IsEnabled(TimRules.PublicJoinRule);
        _noThreads = rulebook.IsEnabled(TimRules.NoThreads);
        _reactions = rulebook.IsEnabled(TimRules.ReactionSingleEmoji);
        _statusLength = rulebook.IsEnabled(TimRules.StatusMessageLength);
    }

    // Endpoints no content rule concerns leave here without a look at their body (the trait is decided once).
    public ValueTask<MatrixError?> EvaluateAsync(HttpContext context, InboundRequestFeature request)
    {
        var content = request.Endpoint.Traits.TimContent;
        if (request.IsPreflight || content is TimContent.None or TimContent.Redaction or TimContent.Registration
            || request.Body is not { Length: > 0 } body)
        {
            // An empty body is the homeserver's to refuse (M_NOT_JSON); there is nothing in it to break a rule.
            return ValueTask.FromResult<MatrixError?>(null);
        }

        return ValueTask.FromResult(Evaluate(context, request, content, body));
    }

    private MatrixError? Evaluate(HttpContext context, InboundRequestFeature request, TimContent content, BufferedRequestBody body)
    {
        // Only the join rules among state events are looked at; other state events keep their body unparsed.
        if (content == TimContent.StateEvent && !PathParameterIs(request, "eventType", JoinRulesEventType))
        {
            return null;
        }

        JsonElement root;
        try
        {
            root = body.Json.RootElement;
        }
        catch (JsonException)
        {
            return s_notJson;
        }

        if (root.ValueKind != JsonValueKind.Object)
        {
            return s_notAnObject;
        }

        var verdict = content switch
        {
            TimContent.CreateRoom => CreateRoom(context, request, body, root),
            TimContent.RoomUpgrade => RoomUpgrade(root),
            TimContent.StateEvent => JoinRules(root),
            TimContent.SendEvent => SendEvent(request, root),
            TimContent.PresenceStatus => PresenceStatus(root),
            _ => default,
        };

        if (verdict.Error is not null)
        {
            request.RefusedBy = verdict.Rule;
        }

        return verdict.Error;
    }

    private Verdict CreateRoom(HttpContext context, InboundRequestFeature request, BufferedRequestBody body, JsonElement root)
    {
        var hasCreationContent = root.TryGetProperty("creation_content", out var creationContent);
        if (hasCreationContent && creationContent.ValueKind != JsonValueKind.Object && (_forbiddenRoomType || _publicNotFederated))
        {
            return Refuse(_forbiddenRoomType ? TimRules.ForbiddenRoomType : TimRules.PublicRoomNotFederated, BadJson("creation_content: must be an object"));
        }

        var addVersion = false;
        if (_roomVersion)
        {
            if (!root.TryGetProperty("room_version", out var version))
            {
                addVersion = true;
            }
            else if (CheckVersion(version, "room_version") is { } error)
            {
                return Refuse(TimRules.RoomVersion, error);
            }
        }

        var hasInitialState = root.TryGetProperty("initial_state", out var initialState);
        if (hasInitialState && (_singleInvitee || _publicNotFederated) && CheckInitialStateShape(initialState) is { } shape)
        {
            return Refuse(_singleInvitee ? TimRules.SingleInvitee : TimRules.PublicRoomNotFederated, shape);
        }

        if (_singleInvitee)
        {
            var invitees = 0;
            if (root.TryGetProperty("invite", out var invite))
            {
                if (invite.ValueKind != JsonValueKind.Array)
                {
                    return Refuse(TimRules.SingleInvitee, BadJson("invite: must be an array of user IDs"));
                }

                invitees = invite.GetArrayLength();
            }

            if (hasInitialState)
            {
                foreach (var state in initialState.EnumerateArray())
                {
                    if (IsStateEvent(state, MemberEventType, out var stateContent) && IsString(stateContent, "membership", "invite"))
                    {
                        invitees++;
                    }
                }
            }

            if (invitees > 1)
            {
                return Refuse(TimRules.SingleInvitee, new MatrixError(403, MatrixErrorCode.Forbidden, "A room can be created with at most one invitee"));
            }
        }

        if (_forbiddenRoomType && hasCreationContent && creationContent.TryGetProperty("type", out var type))
        {
            if (type.ValueKind is not (JsonValueKind.String or JsonValueKind.Null))
            {
                return Refuse(TimRules.ForbiddenRoomType, BadJson("creation_content.type: must be a string"));
            }

            if (type.ValueKind == JsonValueKind.String && type.ValueEquals(ForbiddenRoomType))
            {
                return Refuse(TimRules.ForbiddenRoomType, BadJson($"Rooms of type {ForbiddenRoomType} can no longer be created"));
            }
        }

        var federate = FederateEdit.None;
        if (_publicNotFederated)
        {
            switch (IsPublic(root, hasInitialState ? initialState : default))
            {
                case null:
                    return Refuse(TimRules.PublicRoomNotFederated, BadJson("visibility and preset: must be strings"));
                case true:
                    federate = !hasCreationContent ? FederateEdit.AddCreationContent
                        : !creationContent.TryGetProperty("m.federate", out var current) ? FederateEdit.AddMember
                        : current.ValueKind == JsonValueKind.False ? FederateEdit.None
                        : FederateEdit.Replace;
                    break;
            }
        }

        if (addVersion || federate != FederateEdit.None)
        {
            Rewrite(body, root, addVersion, federate, creationContent);
            body.UseAsRequestBody(context.Request);
            Rewrote(context, request, addVersion, federate != FederateEdit.None);
        }

        return default;
    }

    private void Rewrite(BufferedRequestBody body, JsonElement root, bool addVersion, FederateEdit federate, JsonElement creationContent)
    {
        var (buffer, length) = RewriteCreateRoom(body.Memory.Span, root, addVersion ? _defaultVersionMember : null, federate, creationContent);
        body.Replace(buffer, length);
    }

    /// <summary>The createRoom body with <c>room_version</c> and/or <c>m.federate: false</c> written in; everything else as it was.</summary>
    internal static (byte[] Buffer, int Length) RewriteCreateRoom(ReadOnlySpan<byte> body, JsonElement root, byte[]? versionMember, FederateEdit federate, JsonElement creationContent)
    {
        var edits = new List<JsonEdit>(2);
        var rootInsert = new List<byte>(64);
        if (versionMember is not null)
        {
            rootInsert.AddRange(versionMember);
        }

        switch (federate)
        {
            case FederateEdit.AddCreationContent:
                if (rootInsert.Count > 0)
                {
                    rootInsert.Add((byte)',');
                }

                rootInsert.AddRange("\"creation_content\":{\"m.federate\":false}"u8);
                break;

            case FederateEdit.AddMember:
                var separator = creationContent.GetPropertyCount() > 0 ? ","u8 : default;
                edits.Add(new JsonEdit(JsonSplice.AfterOpeningBrace(body, creationContent), 0, Concat("\"m.federate\":false"u8, separator)));
                break;

            case FederateEdit.Replace:
                var (offset, valueLength) = JsonSplice.Locate(body, creationContent.GetProperty("m.federate"));
                edits.Add(new JsonEdit(offset, valueLength, "false"u8.ToArray()));
                break;
        }

        if (rootInsert.Count > 0)
        {
            // New members go first, right after the opening brace, so no byte of the body changes place within it.
            if (root.GetPropertyCount() > 0)
            {
                rootInsert.Add((byte)',');
            }

            edits.Add(new JsonEdit(JsonSplice.AfterOpeningBrace(body, root), 0, rootInsert.ToArray()));
        }

        return JsonSplice.Apply(body, edits);
    }

    private void Rewrote(HttpContext context, InboundRequestFeature request, bool version, bool federate)
    {
        foreach (var (applied, rule) in new[] { (version, TimRules.RoomVersion), (federate, TimRules.PublicRoomNotFederated) })
        {
            if (applied)
            {
                _metrics.RuleRewrote(rule.Name);
                Log.RuleRewrote(_logger, context.Request.Method, request.Endpoint.Template.Text, rule.Name, rule.Requirement);
            }
        }
    }

    private Verdict RoomUpgrade(JsonElement root) =>
        _roomVersion && root.TryGetProperty("new_version", out var version) && CheckVersion(version, "new_version") is { } error
            ? Refuse(TimRules.RoomVersion, error)
            : default;

    private Verdict JoinRules(JsonElement root)
    {
        if (!_publicJoinRule || !root.TryGetProperty("join_rule", out var joinRule))
        {
            return default;
        }

        if (joinRule.ValueKind != JsonValueKind.String)
        {
            return Refuse(TimRules.PublicJoinRule, BadJson("join_rule: must be a string"));
        }

        return joinRule.ValueEquals("public")
            ? Refuse(TimRules.PublicJoinRule, new MatrixError(400, MatrixErrorCode.InvalidRoomState, "Rooms cannot be made public through the state API"))
            : default;
    }

    private Verdict SendEvent(InboundRequestFeature request, JsonElement root)
    {
        var isReaction = _reactions && PathParameterIs(request, "eventType", ReactionEventType);
        if (!root.TryGetProperty("m.relates_to", out var relation))
        {
            return isReaction ? Refuse(TimRules.ReactionSingleEmoji, BadJson("A reaction needs m.relates_to")) : default;
        }

        var rule = isReaction ? TimRules.ReactionSingleEmoji : TimRules.NoThreads;
        if (relation.ValueKind != JsonValueKind.Object)
        {
            return Refuse(rule, BadJson("m.relates_to: must be an object"));
        }

        var hasRelType = relation.TryGetProperty("rel_type", out var relType);
        if (hasRelType && relType.ValueKind != JsonValueKind.String)
        {
            return Refuse(rule, BadJson("m.relates_to.rel_type: must be a string"));
        }

        if (_noThreads && hasRelType && relType.ValueEquals("m.thread"))
        {
            return Refuse(TimRules.NoThreads, new MatrixError(400, MatrixErrorCode.Forbidden, "Threads are not supported"));
        }

        if (!isReaction)
        {
            return default;
        }

        if (!hasRelType || !relType.ValueEquals("m.annotation"))
        {
            return Refuse(rule, BadJson("A reaction's m.relates_to.rel_type must be m.annotation"));
        }

        return relation.TryGetProperty("key", out var key) && key.ValueKind == JsonValueKind.String && _emoji.IsSingleEmoji(key.GetString()!)
            ? default
            : Refuse(rule, BadJson("A reaction's key must be exactly one emoji"));
    }

    private Verdict PresenceStatus(JsonElement root)
    {
        if (!_statusLength || !root.TryGetProperty("status_msg", out var message))
        {
            return default;
        }

        if (message.ValueKind != JsonValueKind.String)
        {
            return Refuse(TimRules.StatusMessageLength, BadJson("status_msg: must be a string"));
        }

        // Code points, not UTF-16 units: an emoji counts once, as people count it, never twice.
        var text = message.GetString()!;
        return text.Length > _maxStatusLength && text.EnumerateRunes().Count() > _maxStatusLength
            ? Refuse(TimRules.StatusMessageLength, _statusTooLong)
            : default;
    }

    private MatrixError? CheckVersion(JsonElement version, string member)
    {
        if (version.ValueKind != JsonValueKind.String)
        {
            return BadJson($"{member}: must be a string");
        }

        foreach (var allowed in _allowedVersions)
        {
            if (version.ValueEquals(allowed))
            {
                return null;
            }
        }

        return _unsupportedVersion;
    }

    private static MatrixError? CheckInitialStateShape(JsonElement initialState)
    {
        if (initialState.ValueKind != JsonValueKind.Array)
        {
            return BadJson("initial_state: must be an array of state events");
        }

        foreach (var state in initialState.EnumerateArray())
        {
            if (state.ValueKind != JsonValueKind.Object
                || (state.TryGetProperty("type", out var type) && type.ValueKind != JsonValueKind.String)
                || (state.TryGetProperty("content", out var content) && content.ValueKind != JsonValueKind.Object))
            {
                return BadJson("initial_state: every entry must be a state event object with a string type and an object content");
            }
        }

        return null;
    }

    /// <summary>true when the room will be public, false when not, null when visibility or preset have the wrong type.</summary>
    private static bool? IsPublic(JsonElement root, JsonElement initialState)
    {
        var isPublic = false;
        foreach (var (member, value) in new[] { ("visibility", "public"), ("preset", "public_chat") })
        {
            if (root.TryGetProperty(member, out var element))
            {
                if (element.ValueKind != JsonValueKind.String)
                {
                    return null;
                }

                isPublic |= element.ValueEquals(value);
            }
        }

        if (!isPublic && initialState.ValueKind == JsonValueKind.Array)
        {
            foreach (var state in initialState.EnumerateArray())
            {
                if (IsStateEvent(state, JoinRulesEventType, out var content) && IsString(content, "join_rule", "public"))
                {
                    return true;
                }
            }
        }

        return isPublic;
    }

    private static bool IsStateEvent(JsonElement state, string type, out JsonElement content)
    {
        content = default;
        return state.TryGetProperty("type", out var stateType) && stateType.ValueKind == JsonValueKind.String && stateType.ValueEquals(type)
            && state.TryGetProperty("content", out content);
    }

    private static bool IsString(JsonElement obj, string member, string value) =>
        obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(member, out var element)
        && element.ValueKind == JsonValueKind.String && element.ValueEquals(value);

    private static bool PathParameterIs(InboundRequestFeature request, string parameter, string value) =>
        request.Endpoint.Template.TryGetParameter(request.Target.Path, parameter, out var raw)
        && (raw.SequenceEqual(value) || (raw.Contains('%') && Uri.UnescapeDataString(raw.ToString()) == value));

    private static byte[] Concat(ReadOnlySpan<byte> first, ReadOnlySpan<byte> second)
    {
        var result = new byte[first.Length + second.Length];
        first.CopyTo(result);
        second.CopyTo(result.AsSpan(first.Length));
        return result;
    }

    private static MatrixError BadJson(string message) => new(400, MatrixErrorCode.BadJson, message);

    private static Verdict Refuse(TimRule rule, MatrixError error) => new(rule, error);

    private readonly record struct Verdict(TimRule? Rule, MatrixError? Error);
}

/// <summary>How createRoom's <c>creation_content</c> gets <c>m.federate: false</c>.</summary>
internal enum FederateEdit
{
    None,
    AddCreationContent,
    AddMember,
    Replace,
}
