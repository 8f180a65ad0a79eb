using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MessengerProxy.Tests.TestKit;
using Microsoft.AspNetCore.Http;

namespace MessengerProxy.Tests.Inbound;

/// <summary>
/// A stand-in Synapse for the invite check and the cleanup: whoami (token <c>tok-&lt;localpart&gt;</c> is
/// <c>@&lt;localpart&gt;:hs.example</c>), password login for the admin (counted; tokens can be revoked), admin account
/// data, the client account-data API, and the admin room API with pages of its own size. Everything else answers
/// <c>{"ok":true}</c>; every request is recorded.
/// </summary>
public sealed class TimHomeserver : IAsyncDisposable
{
    public const string ServerName = "hs.example";
    public const string AdminUser = "@admin:hs.example";
    public const string AdminPassword = "admin-secret";

    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, string>> _accountData = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _validAdminTokens = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _statusPolls = new(StringComparer.Ordinal);
    private int _logins;

    private TimHomeserver(RecordingUpstream upstream) => Upstream = upstream;

    public RecordingUpstream Upstream { get; }

    public string Url => Upstream.BaseUri.ToString().TrimEnd('/');

    public int Logins => Volatile.Read(ref _logins);

    /// <summary>Rooms for the admin room API, in list order.</summary>
    public List<StandInRoom> Rooms { get; } = [];

    /// <summary>Rooms the admin API was asked to delete.</summary>
    public ConcurrentBag<string> Deleted { get; } = [];

    /// <summary>Rooms listed per page of <c>/_synapse/admin/v1/rooms</c> (whatever <c>limit</c> says).</summary>
    public int RoomsPerPage { get; set; } = 2;

    /// <summary>Events per page of the room messages API.</summary>
    public int EventsPerPage { get; set; } = 50;

    /// <summary>Delay before each page of the room list, to make runs overlap.</summary>
    public TimeSpan ListDelay { get; set; }

    /// <summary>How many status polls answer "active" before "complete".</summary>
    public int ActivePolls { get; set; }

    public static async Task<TimHomeserver> StartAsync()
    {
        var upstream = await RecordingUpstream.StartAsync();
        var homeserver = new TimHomeserver(upstream);
        upstream.Respond = homeserver.RespondAsync;
        return homeserver;
    }

    public static string Token(string localpart) => "tok-" + localpart;

    public static string User(string localpart) => $"@{localpart}:{ServerName}";

    public void SetAccountData(string userId, string type, string json) =>
        _accountData.GetOrAdd(userId, _ => new ConcurrentDictionary<string, string>(StringComparer.Ordinal))[type] = json;

    /// <summary>Makes every admin token issued so far invalid (the homeserver answers 401 to them).</summary>
    public void RevokeAdminTokens() => _validAdminTokens.Clear();

    public int Count(string pathPrefix) => Upstream.Requests.Count(r => r.RawTarget.StartsWith(pathPrefix, StringComparison.Ordinal));

    public ValueTask DisposeAsync() => Upstream.DisposeAsync();

    private async Task RespondAsync(HttpContext context, RecordedRequest request)
    {
        var path = request.RawTarget.Split('?')[0];
        var segments = path.Split('/');
        var bearer = request.Header("Authorization") is { } auth && auth.StartsWith("Bearer ", StringComparison.Ordinal) ? auth[7..] : null;
        switch (request.Method, segments)
        {
            case ("GET", ["", "_matrix", "client", "v3", "account", "whoami"]):
                if (bearer is null || !bearer.StartsWith("tok-", StringComparison.Ordinal))
                {
                    await ErrorAsync(context, 401, "M_UNKNOWN_TOKEN");
                    return;
                }

                await JsonAsync(context, 200, new { user_id = User(bearer[4..]) });
                return;

            case ("POST", ["", "_matrix", "client", "v3", "login"]):
                using (var login = JsonDocument.Parse(request.Body))
                {
                    if (login.RootElement.GetProperty("password").GetString() != AdminPassword
                        || login.RootElement.GetProperty("identifier").GetProperty("user").GetString() != AdminUser)
                    {
                        await ErrorAsync(context, 403, "M_FORBIDDEN");
                        return;
                    }
                }

                var token = "admin-" + Interlocked.Increment(ref _logins);
                _validAdminTokens[token] = 0;
                await JsonAsync(context, 200, new { access_token = token, user_id = AdminUser, device_id = "D" });
                return;

            case ("GET" or "PUT", ["", "_matrix", "client", "v3", "user", var rawUser, "account_data", var rawType]):
                var user = Uri.UnescapeDataString(rawUser);
                var type = Uri.UnescapeDataString(rawType);
                if (request.Method == "PUT")
                {
                    SetAccountData(user, type, Encoding.UTF8.GetString(request.Body));
                    await JsonAsync(context, 200, new { });
                    return;
                }

                if (_accountData.TryGetValue(user, out var own) && own.TryGetValue(type, out var stored))
                {
                    context.Response.ContentType = "application/json";
                    await context.Response.WriteAsync(stored);
                    return;
                }

                await ErrorAsync(context, 404, "M_NOT_FOUND");
                return;
        }

        if (path.StartsWith("/_synapse/admin/", StringComparison.Ordinal))
        {
            if (bearer is null || !_validAdminTokens.ContainsKey(bearer))
            {
                await ErrorAsync(context, 401, "M_UNKNOWN_TOKEN");
                return;
            }

            await AdminAsync(context, request, segments);
            return;
        }

        await RecordingUpstream.DefaultRespondAsync(context, request);
    }

    private async Task AdminAsync(HttpContext context, RecordedRequest request, string[] segments)
    {
        var query = System.Web.HttpUtility.ParseQueryString(request.RawTarget.Contains('?') ? request.RawTarget[(request.RawTarget.IndexOf('?') + 1)..] : string.Empty);
        switch (request.Method, segments)
        {
            case ("GET", ["", "_synapse", "admin", "v1", "background_updates", "status"]):
                await JsonAsync(context, 200, new { enabled = true, current_updates = new { } });
                return;

            case ("GET", ["", "_synapse", "admin", "v1", "users", var rawUser, "accountdata"]):
                var user = Uri.UnescapeDataString(rawUser);
                if (!user.EndsWith(":" + ServerName, StringComparison.Ordinal))
                {
                    await ErrorAsync(context, 400, "M_INVALID_PARAM");
                    return;
                }

                if (user.Contains("nobody", StringComparison.Ordinal))
                {
                    await ErrorAsync(context, 404, "M_NOT_FOUND");
                    return;
                }

                var global = new JsonObject();
                if (_accountData.TryGetValue(user, out var data))
                {
                    foreach (var (type, json) in data)
                    {
                        global[type] = JsonNode.Parse(json);
                    }
                }

                await WriteAsync(context, 200, new JsonObject { ["account_data"] = new JsonObject { ["global"] = global, ["rooms"] = new JsonObject() } }.ToJsonString());
                return;

            case ("GET", ["", "_synapse", "admin", "v1", "rooms"]):
                await Task.Delay(ListDelay);
                var from = int.Parse(query["from"] ?? "0");
                var page = Rooms.Skip(from).Take(RoomsPerPage).ToList();
                var list = new JsonObject
                {
                    ["rooms"] = new JsonArray([.. page.Select(r => (JsonNode)new JsonObject { ["room_id"] = r.RoomId, ["creator"] = r.Creator, ["joined_members"] = r.Joined.Count })]),
                    ["offset"] = from,
                    ["total_rooms"] = Rooms.Count,
                };
                if (from + RoomsPerPage < Rooms.Count)
                {
                    list["next_batch"] = from + RoomsPerPage;
                }

                await WriteAsync(context, 200, list.ToJsonString());
                return;

            case ("GET", ["", "_synapse", "admin", "v1", "rooms", var rawRoom, "members"]):
                var members = Room(rawRoom)?.Joined ?? [];
                await JsonAsync(context, 200, new { members, total = members.Count });
                return;

            case ("GET", ["", "_synapse", "admin", "v1", "rooms", var rawRoom, "messages"]):
                // dir=b: newest first; "from" is the index of the next event to return.
                var events = Room(rawRoom)?.Events.AsEnumerable().Reverse().ToList() ?? [];
                var start = int.Parse(query["from"] ?? "0");
                var chunk = events.Skip(start).Take(EventsPerPage).ToList();
                var messages = new JsonObject { ["chunk"] = new JsonArray([.. chunk.Select(e => e.ToJson())]), ["start"] = start.ToString() };
                if (start + EventsPerPage < events.Count)
                {
                    messages["end"] = (start + EventsPerPage).ToString();
                }

                await WriteAsync(context, 200, messages.ToJsonString());
                return;

            case ("DELETE", ["", "_synapse", "admin", "v2", "rooms", var rawRoom]):
                Deleted.Add(Uri.UnescapeDataString(rawRoom));
                await JsonAsync(context, 200, new { delete_id = "del-" + Uri.UnescapeDataString(rawRoom).TrimStart('!') });
                return;

            case ("GET", ["", "_synapse", "admin", "v2", "rooms", "delete_status", var deleteId]):
                var polls = _statusPolls.AddOrUpdate(deleteId, 1, (_, n) => n + 1);
                await JsonAsync(context, 200, new { status = polls > ActivePolls ? "complete" : "active" });
                return;
        }

        await ErrorAsync(context, 404, "M_UNRECOGNIZED");
    }

    private StandInRoom? Room(string rawRoom) => Rooms.FirstOrDefault(r => r.RoomId == Uri.UnescapeDataString(rawRoom));

    private static Task JsonAsync(HttpContext context, int status, object body) => WriteAsync(context, status, JsonSerializer.Serialize(body));

    private static Task ErrorAsync(HttpContext context, int status, string errcode) =>
        WriteAsync(context, status, $$"""{"errcode":"{{errcode}}","error":"stand-in"}""");

    private static Task WriteAsync(HttpContext context, int status, string json)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(json);
    }
}

/// <summary>A room of the stand-in: its joined members and its timeline, oldest first.</summary>
public sealed record StandInRoom(string RoomId, string Creator, List<string> Joined, List<StandInEvent> Events);

public sealed record StandInEvent(string Type, bool IsState, DateTimeOffset At, bool TimestampAsString = false)
{
    public JsonNode ToJson()
    {
        var json = new JsonObject
        {
            ["type"] = Type,
            ["origin_server_ts"] = TimestampAsString ? At.ToUnixTimeMilliseconds().ToString() : At.ToUnixTimeMilliseconds(),
            ["content"] = new JsonObject(),
        };
        if (IsState)
        {
            json["state_key"] = string.Empty;
        }

        return json;
    }
}
