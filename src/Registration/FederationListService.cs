using MessengerProxy.Persistence.Federation;
using MessengerProxy.Registration.Jws;
using MessengerProxy.Registration.Validation;
using MessengerProxy.Trust;
using Microsoft.Extensions.Logging;

namespace MessengerProxy.Registration;

/// <summary>The VZD's list refused at <paramref name="At"/>, with its reason code (<see cref="JwsFailures.Code"/>).</summary>
internal sealed record VzdRefusal(string Code, DateTimeOffset At);

internal sealed record ImportOutcome(bool Accepted, string Reason, long Version = 0, long SourceVersion = 0, int DomainCount = 0, string? Signer = null);

/// <summary>
/// The federation list as the service presents it: the serialised latest version (cached until the next
/// write), and imports of signed lists. A list that fails verification, or is not newer than the last
/// import (replay or rollback), is refused and the previous list stays in force.
/// </summary>
internal sealed class FederationListService
{
    private readonly FederationListStore _store;
    private readonly FederationListJwsVerifier _verifier;
    private readonly OcspChecker _ocsp;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _importLock = new(1, 1);
    private CachedList? _cache;
    private SignedFederationList? _signedCache;
    private volatile VzdRefusal? _vzdRefusal;

    public FederationListService(FederationListStore store, FederationListJwsVerifier verifier, OcspChecker ocsp, TimeProvider time, ILogger<FederationListService> logger)
    {
        _store = store;
        _verifier = verifier;
        _ocsp = ocsp;
        _time = time;
        _logger = logger;
    }

    /// <summary>
    /// The last list fetched from the VZD that was refused (a forgery, a revoked signer, an OCSP responder that
    /// did not answer, …), until a VZD list is stored again; readiness shows its code. Admin uploads are answered
    /// with their reason instead.
    /// </summary>
    public VzdRefusal? LastVzdRefusal => _vzdRefusal;

    /// <summary>
    /// The exact JWS of the newest VZD import, for proxies that verify it themselves; null when no list was
    /// ever imported (hand-made lists have no signature). Kept in memory until a newer import is stored.
    /// </summary>
    public async Task<SignedFederationList?> GetLatestSignedAsync(CancellationToken cancellationToken)
    {
        var latest = await _store.GetLatestSignedVersionAsync(cancellationToken);
        if (latest is null)
        {
            return null;
        }

        if (_signedCache is { } cached && cached.Version == latest.Value.Version)
        {
            return cached;
        }

        var signed = await _store.GetLatestSignedAsync(cancellationToken);
        _signedCache = signed;
        return signed;
    }

    /// <summary>The latest version's number and its JSON; null when no list was ever stored.</summary>
    public async Task<(long Version, byte[] Json)?> GetLatestAsync(CancellationToken cancellationToken)
    {
        var latest = await _store.GetLatestVersionAsync(cancellationToken);
        if (latest is null)
        {
            return null;
        }

        var cache = _cache;
        if (cache?.Version == latest.Version)
        {
            return (cache.Version, cache.Json);
        }

        var snapshot = await _store.GetLatestAsync(cancellationToken);
        if (snapshot is null)
        {
            return null;
        }

        cache = new CachedList(snapshot.Version, FederationListJson.Serialize(snapshot));
        _cache = cache;
        return (cache.Version, cache.Json);
    }

    /// <param name="allowEmpty">Store a list without domains; the VZD fetch never does (see <see cref="FederationListJson.EmptyListProblem"/>).</param>
    public async Task<ImportOutcome> ImportAsync(string compactJws, string source, bool allowEmpty, CancellationToken cancellationToken)
    {
        await _importLock.WaitAsync(cancellationToken);
        try
        {
            VerifiedFederationList list;
            try
            {
                list = _verifier.Verify(compactJws, allowEmpty);
                await _ocsp.CheckAsync(list.Jws, cancellationToken);
            }
            catch (JwsVerificationException ex)
            {
                return Refused(source, ex.Failure, ex.Message);
            }

            var lastImported = await _store.GetLastSourceVersionAsync(cancellationToken);
            if (lastImported is { } last && list.SourceVersion <= last)
            {
                return Refused(source, JwsFailure.Replay, $"list version {list.SourceVersion} is not newer than the last imported version {last}");
            }

            var version = await _store.ReplaceAsync(list.Domains, new FederationListChange(source, list.SourceVersion, list.Signer, compactJws.Trim()), cancellationToken);
            Log.FederationListStored(_logger, version, list.Domains.Count, source);
            if (IsVzd(source))
            {
                _vzdRefusal = null;
            }

            return new ImportOutcome(true, "stored", version, list.SourceVersion, list.Domains.Count, list.Signer);
        }
        finally
        {
            _importLock.Release();
        }
    }

    private ImportOutcome Refused(string source, JwsFailure failure, string reason)
    {
        Log.FederationListRefused(_logger, source, reason);
        if (IsVzd(source))
        {
            _vzdRefusal = new VzdRefusal(failure.Code(), _time.GetUtcNow());
        }

        return new ImportOutcome(false, reason);
    }

    private static bool IsVzd(string source) => source.StartsWith("vzd:", StringComparison.Ordinal);

    private sealed record CachedList(long Version, byte[] Json);
}
