using System.Data;
using MessengerProxy.Persistence.Entities;
using MessengerProxy.Policy.Federation;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using NpgsqlTypes;

namespace MessengerProxy.Persistence.Federation;

/// <summary>
/// Versioned storage of the federation list. Every write runs in one transaction that first takes a
/// PostgreSQL advisory lock, so writers queue up, each gets the next version number, and readers (who read
/// in a repeatable-read snapshot) see either the whole old list or the whole new one.
/// </summary>
internal sealed class FederationListStore
{
    // Arbitrary but fixed: the key of the advisory lock that serialises federation list writers.
    private const long WriterLockKey = 0x4D50_4645_444C;

    private readonly IDbContextFactory<RegistrationDbContext> _contextFactory;
    private readonly TimeProvider _time;

    public FederationListStore(IDbContextFactory<RegistrationDbContext> contextFactory, TimeProvider time)
    {
        _contextFactory = contextFactory;
        _time = time;
    }

    public async Task<FederationListVersionEntity?> GetLatestVersionAsync(CancellationToken cancellationToken)
    {
        await using var db = await _contextFactory.CreateDbContextAsync(cancellationToken);
        return await db.FederationListVersions.AsNoTracking().OrderByDescending(v => v.Version).FirstOrDefaultAsync(cancellationToken);
    }

    /// <summary>The VZD version number of the most recent import, if any list was ever imported.</summary>
    public async Task<long?> GetLastSourceVersionAsync(CancellationToken cancellationToken)
    {
        await using var db = await _contextFactory.CreateDbContextAsync(cancellationToken);
        return await db.FederationListVersions.AsNoTracking().Where(v => v.SourceVersion != null)
            .MaxAsync(v => v.SourceVersion, cancellationToken);
    }

    /// <summary>The version number and VZD version of the newest import with its JWS, without loading the JWS.</summary>
    public async Task<(long Version, long SourceVersion)?> GetLatestSignedVersionAsync(CancellationToken cancellationToken)
    {
        await using var db = await _contextFactory.CreateDbContextAsync(cancellationToken);
        var latest = await db.FederationListSignatures.AsNoTracking().OrderByDescending(s => s.SourceVersion)
            .Select(s => new { s.Version, s.SourceVersion }).FirstOrDefaultAsync(cancellationToken);
        return latest is null ? null : (latest.Version, latest.SourceVersion);
    }

    /// <summary>The exact JWS of the newest VZD import (highest VZD version), or null when none was imported.</summary>
    public async Task<SignedFederationList?> GetLatestSignedAsync(CancellationToken cancellationToken)
    {
        await using var db = await _contextFactory.CreateDbContextAsync(cancellationToken);
        return await db.FederationListSignatures.AsNoTracking().OrderByDescending(s => s.SourceVersion)
            .Select(s => new SignedFederationList(s.Version, s.SourceVersion, s.Jws)).FirstOrDefaultAsync(cancellationToken);
    }

    public async Task<FederationListSnapshot?> GetLatestAsync(CancellationToken cancellationToken)
    {
        await using var db = await _contextFactory.CreateDbContextAsync(cancellationToken);
        await using var transaction = await db.Database.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken);
        var latest = await db.FederationListVersions.AsNoTracking().OrderByDescending(v => v.Version).FirstOrDefaultAsync(cancellationToken);
        if (latest is null)
        {
            return null;
        }

        var domains = await db.FederationDomains.AsNoTracking()
            .Where(d => d.RemovedInVersion == null)
            .OrderBy(d => d.Domain)
            .Select(d => new FederationDomain(d.Domain, d.TelematikId, d.IsInsurance) { Ik = d.Ik })
            .ToListAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return new FederationListSnapshot(latest.Version, latest.CreatedAt, latest.Source, domains);
    }

    /// <summary>Makes <paramref name="domains"/> the whole list, as a new version. Only the differences are written.</summary>
    public async Task<long> ReplaceAsync(IReadOnlyList<FederationDomain> domains, FederationListChange change, CancellationToken cancellationToken)
    {
        var result = await WriteAsync(change, async (db, next, previousCount) =>
        {
            var current = await db.FederationDomains.AsNoTracking()
                .Where(d => d.RemovedInVersion == null)
                .Select(d => new { d.Id, d.Domain, d.TelematikId, d.IsInsurance, d.Ik })
                .ToDictionaryAsync(d => d.Domain, StringComparer.Ordinal, cancellationToken);

            var retired = new List<long>();
            var added = new List<FederationDomain>();
            var wanted = new HashSet<string>(StringComparer.Ordinal);
            foreach (var domain in domains)
            {
                wanted.Add(domain.Domain);
                if (current.TryGetValue(domain.Domain, out var existing))
                {
                    if (existing.TelematikId == domain.TelematikId && existing.IsInsurance == domain.IsInsurance && existing.Ik.SequenceEqual(domain.Ik))
                    {
                        continue;
                    }

                    retired.Add(existing.Id);
                }

                added.Add(domain);
            }

            retired.AddRange(current.Values.Where(d => !wanted.Contains(d.Domain)).Select(d => d.Id));
            if (retired.Count > 0)
            {
                await db.FederationDomains.Where(d => retired.Contains(d.Id))
                    .ExecuteUpdateAsync(s => s.SetProperty(d => d.RemovedInVersion, next), cancellationToken);
            }

            await BulkInsertAsync(db, added, next, cancellationToken);
            return (FederationWriteStatus.Created, domains.Count);
        }, cancellationToken);
        return result.Version;
    }

    /// <summary>Adds one domain as a new version; <see cref="FederationWriteStatus.AlreadyPresent"/> when it is listed.</summary>
    public Task<FederationWriteResult> AddDomainAsync(FederationDomain domain, FederationListChange change, CancellationToken cancellationToken) =>
        WriteAsync(change, async (db, next, previousCount) =>
        {
            if (await db.FederationDomains.AnyAsync(d => d.Domain == domain.Domain && d.RemovedInVersion == null, cancellationToken))
            {
                return (FederationWriteStatus.AlreadyPresent, previousCount);
            }

            db.FederationDomains.Add(new FederationDomainEntity
            {
                Domain = domain.Domain,
                TelematikId = domain.TelematikId,
                IsInsurance = domain.IsInsurance,
                Ik = [.. domain.Ik],
                AddedInVersion = next,
            });
            await db.SaveChangesAsync(cancellationToken);
            return (FederationWriteStatus.Created, previousCount + 1);
        }, cancellationToken);

    /// <summary>Removes one domain as a new version; <see cref="FederationWriteStatus.NotFound"/> when it is not listed.</summary>
    public Task<FederationWriteResult> RemoveDomainAsync(string domain, FederationListChange change, CancellationToken cancellationToken) =>
        RemoveDomainAsync(domain, change, allowEmpty: true, cancellationToken);

    /// <summary>
    /// Removes one domain as a new version; <see cref="FederationWriteStatus.WouldLeaveListEmpty"/> when it is
    /// the last one and <paramref name="allowEmpty"/> is false. The count is read under the writer lock, so
    /// two removals that race for the last two domains cannot both succeed.
    /// </summary>
    public Task<FederationWriteResult> RemoveDomainAsync(string domain, FederationListChange change, bool allowEmpty, CancellationToken cancellationToken) =>
        WriteAsync(change, async (db, next, previousCount) =>
        {
            var updated = await db.FederationDomains.Where(d => d.Domain == domain && d.RemovedInVersion == null)
                .ExecuteUpdateAsync(s => s.SetProperty(d => d.RemovedInVersion, next), cancellationToken);
            return updated == 0 ? (FederationWriteStatus.NotFound, previousCount)
                : previousCount - 1 == 0 && !allowEmpty ? (FederationWriteStatus.WouldLeaveListEmpty, previousCount)
                : (FederationWriteStatus.Created, previousCount - 1);
        }, cancellationToken);

    private async Task<FederationWriteResult> WriteAsync(
        FederationListChange change,
        Func<RegistrationDbContext, long, int, Task<(FederationWriteStatus Status, int Count)>> apply,
        CancellationToken cancellationToken)
    {
        await using var db = await _contextFactory.CreateDbContextAsync(cancellationToken);
        await using var transaction = await db.Database.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken);
        await db.Database.ExecuteSqlAsync($"SELECT pg_advisory_xact_lock({WriterLockKey})", cancellationToken);

        var latest = await db.FederationListVersions.AsNoTracking().OrderByDescending(v => v.Version).FirstOrDefaultAsync(cancellationToken);
        var next = (latest?.Version ?? 0) + 1;
        var version = new FederationListVersionEntity
        {
            Version = next,
            CreatedAt = _time.GetUtcNow(),
            Source = change.Source,
            SourceVersion = change.SourceVersion,
            Signer = change.Signer,
        };

        // The version row goes in first: domain rows refer to it.
        db.FederationListVersions.Add(version);
        await db.SaveChangesAsync(cancellationToken);

        var (status, count) = await apply(db, next, latest?.DomainCount ?? 0);
        if (status != FederationWriteStatus.Created)
        {
            await transaction.RollbackAsync(cancellationToken);
            return new FederationWriteResult(status, latest?.Version ?? 0);
        }

        version.DomainCount = count;
        if (change.Jws is not null)
        {
            db.FederationListSignatures.Add(new FederationListSignatureEntity { Version = next, SourceVersion = change.SourceVersion ?? 0, Jws = change.Jws });
        }

        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return new FederationWriteResult(FederationWriteStatus.Created, next);
    }

    private static async Task BulkInsertAsync(RegistrationDbContext db, List<FederationDomain> domains, long version, CancellationToken cancellationToken)
    {
        if (domains.Count == 0)
        {
            return;
        }

        // COPY is an order of magnitude faster than INSERT batches for a first import of 100 000 domains;
        // it runs inside the open transaction.
        var connection = (NpgsqlConnection)db.Database.GetDbConnection();
        await using var importer = await connection.BeginBinaryImportAsync(
            "COPY federation_domains (domain, telematik_id, is_insurance, ik, added_in_version) FROM STDIN (FORMAT BINARY)", cancellationToken);
        foreach (var domain in domains)
        {
            await importer.StartRowAsync(cancellationToken);
            await importer.WriteAsync(domain.Domain, NpgsqlDbType.Varchar, cancellationToken);
            await importer.WriteAsync(domain.TelematikId, NpgsqlDbType.Varchar, cancellationToken);
            await importer.WriteAsync(domain.IsInsurance, NpgsqlDbType.Boolean, cancellationToken);
            await importer.WriteAsync(domain.Ik.ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Text, cancellationToken);
            await importer.WriteAsync(version, NpgsqlDbType.Bigint, cancellationToken);
        }

        await importer.CompleteAsync(cancellationToken);
    }
}
