using MessengerProxy.Hosting.Configuration;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Inbound.Configuration;

/// <summary>Who enforces the invitees' permission configurations (<c>Tim:InviteCheck</c>).</summary>
internal enum InviteCheckMode
{
    /// <summary>The proxy reads the invitee's configuration and refuses blocked invites (the reference's PROXY).</summary>
    Proxy,

    /// <summary>Clients enforce it themselves; the proxy only answers missing configurations with the default.</summary>
    Client,
}

/// <summary>The <c>defaultSetting</c> of a permission configuration.</summary>
internal enum PermissionDefault
{
    /// <summary><c>"allow all"</c>.</summary>
    AllowAll,

    /// <summary><c>"block all"</c>.</summary>
    BlockAll,
}

/// <summary><c>Tim:InvitePermissions</c>: how permission configurations are read and cached.</summary>
internal sealed class TimInvitePermissionOptions
{
    /// <summary>The setting of a user without a configuration (or with one that breaks the schema).</summary>
    public PermissionDefault Default { get; set; } = PermissionDefault.AllowAll;

    /// <summary>How long a user's configuration is reused; a write through this proxy drops it at once.</summary>
    public TimeSpan CacheTtl { get; set; } = TimeSpan.FromMinutes(1);

    public int MaxCachedUsers { get; set; } = 10_000;

    /// <summary>More entries than this in one exception map make the configuration malformed (read as the default).</summary>
    public int MaxExceptions { get; set; } = 10_000;
}

/// <summary><c>Tim:TokenCache</c>: access token → user ID, as <c>/account/whoami</c> answered.</summary>
internal sealed class TimTokenCacheOptions
{
    public TimeSpan Ttl { get; set; } = TimeSpan.FromMinutes(5);

    public int MaxEntries { get; set; } = 10_000;
}

/// <summary><c>Tim:Admin</c>: the Synapse admin API, called on the homeserver's internal URL only.</summary>
internal sealed class HomeserverAdminOptions
{
    /// <summary>An admin's access token; the preferred form (no login, no device).</summary>
    public string? AccessToken { get; set; }

    /// <summary>Or an admin's user ID (or localpart) and password: logged in once, and again only after a 401.</summary>
    public string? User { get; set; }

    public string? Password { get; set; }

    /// <summary>Where the admin API is; empty means <c>Inbound:HomeserverUrl</c>.</summary>
    public string? HomeserverUrl { get; set; }

    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    internal bool IsConfigured => !string.IsNullOrEmpty(AccessToken) || !string.IsNullOrEmpty(User);
}

/// <summary><c>Tim:OrphanedRooms</c>: the cleanup job of A_28564-01.</summary>
internal sealed class OrphanedRoomOptions
{
    /// <summary>
    /// The scheduled job. With several proxy replicas in front of one homeserver, leave it on in exactly one
    /// (the leader flag): runs are exclusive within a process only.
    /// </summary>
    public bool Enabled { get; set; } = true;

    public TimeSpan Interval { get; set; } = TimeSpan.FromDays(1);

    /// <summary>Time from start-up to the first scheduled run.</summary>
    public TimeSpan FirstRunDelay { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>A room whose newest event is younger than this is kept.</summary>
    public TimeSpan Threshold { get; set; } = TimeSpan.FromDays(14);

    /// <summary>Only log what would be deleted.</summary>
    public bool DryRun { get; set; }

    public int PageSize { get; set; } = 100;

    public TimeSpan StatusPollInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Longest wait for one asynchronous deletion before it counts as failed.</summary>
    public TimeSpan DeleteTimeout { get; set; } = TimeSpan.FromMinutes(10);
}

/// <summary>Start-up checks of the invite, admin and cleanup settings; every error named by its key.</summary>
internal sealed class TimInviteOptionsValidator : IValidateOptions<TimOptions>
{
    public ValidateOptionsResult Validate(string? name, TimOptions options)
    {
        var errors = new OptionsErrors(TimOptions.SectionName);
        var S = errors.Section;
        var admin = options.Admin;
        if (!string.IsNullOrEmpty(admin.AccessToken) && !string.IsNullOrEmpty(admin.User))
        {
            errors.Add($"{S}:Admin:AccessToken cannot be combined with {S}:Admin:User: give a token or a user and password");
        }

        if (string.IsNullOrEmpty(admin.User) != string.IsNullOrEmpty(admin.Password))
        {
            errors.Add($"{S}:Admin:User and {S}:Admin:Password go together");
        }

        errors.HttpBaseUrl(options.Admin.HomeserverUrl);

        errors.Positive(options.Admin.Timeout);
        errors.Positive(options.InvitePermissions.CacheTtl);
        errors.Positive(options.InvitePermissions.MaxCachedUsers);
        errors.Positive(options.InvitePermissions.MaxExceptions);
        errors.Positive(options.TokenCache.Ttl);
        errors.Positive(options.TokenCache.MaxEntries);
        var rooms = options.OrphanedRooms;
        errors.Positive(options.OrphanedRooms.Interval);
        errors.Positive(options.OrphanedRooms.Threshold);
        errors.Positive(options.OrphanedRooms.StatusPollInterval);
        errors.Positive(options.OrphanedRooms.DeleteTimeout);
        if (rooms.FirstRunDelay < TimeSpan.Zero)
        {
            errors.Add($"{S}:OrphanedRooms:FirstRunDelay cannot be negative (got {rooms.FirstRunDelay})");
        }

        if (rooms.PageSize is < 1 or > 1000)
        {
            errors.Add($"{S}:OrphanedRooms:PageSize must be 1 to 1000 (got {rooms.PageSize})");
        }

        return errors.Result;
    }
}
