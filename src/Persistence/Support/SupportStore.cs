using MessengerProxy.Persistence.Entities;
using Microsoft.EntityFrameworkCore;

namespace MessengerProxy.Persistence.Support;

internal sealed record SupportContact(string Role, string? EmailAddress, string? MatrixId);

/// <summary>The <c>m.support</c> document of a server name (see the Matrix spec, <c>/.well-known/matrix/support</c>).</summary>
internal sealed record SupportInformation(string ServerName, string? SupportPage, IReadOnlyList<SupportContact> Contacts);

/// <summary>Support information per server name; each write replaces the whole document in one transaction.</summary>
internal sealed class SupportStore
{
    private readonly IDbContextFactory<RegistrationDbContext> _contextFactory;
    private readonly TimeProvider _time;

    public SupportStore(IDbContextFactory<RegistrationDbContext> contextFactory, TimeProvider time)
    {
        _contextFactory = contextFactory;
        _time = time;
    }

    public async Task<SupportInformation?> GetAsync(string serverName, CancellationToken cancellationToken)
    {
        await using var db = await _contextFactory.CreateDbContextAsync(cancellationToken);
        var entity = await db.SupportInformation.AsNoTracking().Include(s => s.Contacts)
            .FirstOrDefaultAsync(s => s.ServerName == serverName, cancellationToken);
        return entity is null
            ? null
            : new SupportInformation(entity.ServerName, entity.SupportPage,
                entity.Contacts.OrderBy(c => c.Position).Select(c => new SupportContact(c.Role, c.EmailAddress, c.MatrixId)).ToList());
    }

    /// <returns>True when the server name had no support information before.</returns>
    public async Task<bool> PutAsync(SupportInformation information, CancellationToken cancellationToken)
    {
        await using var db = await _contextFactory.CreateDbContextAsync(cancellationToken);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var existing = await db.SupportInformation.Include(s => s.Contacts).FirstOrDefaultAsync(s => s.ServerName == information.ServerName, cancellationToken);
        var created = existing is null;
        if (existing is not null)
        {
            db.SupportInformation.Remove(existing);
            await db.SaveChangesAsync(cancellationToken);
        }

        db.SupportInformation.Add(new SupportInformationEntity
        {
            ServerName = information.ServerName,
            SupportPage = information.SupportPage,
            UpdatedAt = _time.GetUtcNow(),
            Contacts = information.Contacts.Select((c, i) => new SupportContactEntity
            {
                ServerName = information.ServerName,
                Position = i,
                Role = c.Role,
                EmailAddress = c.EmailAddress,
                MatrixId = c.MatrixId,
            }).ToList(),
        });
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return created;
    }

    public async Task<bool> DeleteAsync(string serverName, CancellationToken cancellationToken)
    {
        await using var db = await _contextFactory.CreateDbContextAsync(cancellationToken);
        return await db.SupportInformation.Where(s => s.ServerName == serverName).ExecuteDeleteAsync(cancellationToken) > 0;
    }
}
