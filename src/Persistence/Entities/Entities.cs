namespace MessengerProxy.Persistence.Entities;

/// <summary>One version of the federation list. Versions only ever grow; each write creates the next one.</summary>
internal sealed class FederationListVersionEntity
{
    public long Version { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>Where the version came from: <c>admin:replace</c>, <c>admin:add</c>, <c>admin:remove</c>, <c>vzd:&lt;url or upload&gt;</c>.</summary>
    public string Source { get; set; } = string.Empty;

    /// <summary>The version number of the signed list as the VZD numbered it, for imports.</summary>
    public long? SourceVersion { get; set; }

    /// <summary>Subject of the certificate that signed an imported list.</summary>
    public string? Signer { get; set; }

    public int DomainCount { get; set; }
}

/// <summary>
/// The exact compact JWS a VZD import was verified from, kept apart from its version row so that reading the
/// latest version (on every proxy poll) never loads megabytes of signature text.
/// </summary>
internal sealed class FederationListSignatureEntity
{
    public long Version { get; set; }

    /// <summary>The VZD's version number inside the signed payload (also on the version row).</summary>
    public long SourceVersion { get; set; }

    public string Jws { get; set; } = string.Empty;
}

/// <summary>
/// A domain's membership in the list over time: present from <see cref="AddedInVersion"/> until (but not
/// including) <see cref="RemovedInVersion"/>. Storing intervals keeps a new version of a 100 000-domain list
/// as cheap as the change that made it.
/// </summary>
internal sealed class FederationDomainEntity
{
    public long Id { get; set; }

    /// <summary>Lower-case ASCII (IDNA) domain name.</summary>
    public string Domain { get; set; } = string.Empty;

    public string TelematikId { get; set; } = string.Empty;

    public bool IsInsurance { get; set; }

    public string[] Ik { get; set; } = [];

    public long AddedInVersion { get; set; }

    public long? RemovedInVersion { get; set; }
}

/// <summary>The <c>m.support</c> document of one server name.</summary>
internal sealed class SupportInformationEntity
{
    public string ServerName { get; set; } = string.Empty;

    public string? SupportPage { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }

    public List<SupportContactEntity> Contacts { get; set; } = [];
}

internal sealed class SupportContactEntity
{
    public long Id { get; set; }

    public string ServerName { get; set; } = string.Empty;

    /// <summary>Order of the contact in the document.</summary>
    public int Position { get; set; }

    public string Role { get; set; } = string.Empty;

    public string? EmailAddress { get; set; }

    public string? MatrixId { get; set; }
}
