using MessengerProxy.Persistence.Entities;
using Microsoft.EntityFrameworkCore;

namespace MessengerProxy.Persistence;

/// <summary>The registration service's database. Table and column names are snake_case for operators reading SQL.</summary>
internal sealed class RegistrationDbContext : DbContext
{
    public RegistrationDbContext(DbContextOptions<RegistrationDbContext> options)
        : base(options)
    {
    }

    public DbSet<FederationListVersionEntity> FederationListVersions => Set<FederationListVersionEntity>();

    public DbSet<FederationListSignatureEntity> FederationListSignatures => Set<FederationListSignatureEntity>();

    public DbSet<FederationDomainEntity> FederationDomains => Set<FederationDomainEntity>();

    public DbSet<SupportInformationEntity> SupportInformation => Set<SupportInformationEntity>();

    public DbSet<SupportContactEntity> SupportContacts => Set<SupportContactEntity>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<FederationListVersionEntity>(e =>
        {
            e.ToTable("federation_list_versions");
            e.HasKey(v => v.Version);
            e.Property(v => v.Version).HasColumnName("version").ValueGeneratedNever();
            e.Property(v => v.CreatedAt).HasColumnName("created_at");
            e.Property(v => v.Source).HasColumnName("source").HasMaxLength(2048);
            e.Property(v => v.SourceVersion).HasColumnName("source_version");
            e.Property(v => v.Signer).HasColumnName("signer").HasMaxLength(1024);
            e.Property(v => v.DomainCount).HasColumnName("domain_count");
        });

        modelBuilder.Entity<FederationListSignatureEntity>(e =>
        {
            e.ToTable("federation_list_signatures");
            e.HasKey(s => s.Version);
            e.Property(s => s.Version).HasColumnName("version").ValueGeneratedNever();
            e.Property(s => s.SourceVersion).HasColumnName("source_version");
            e.Property(s => s.Jws).HasColumnName("jws");
            e.HasOne<FederationListVersionEntity>().WithOne().HasForeignKey<FederationListSignatureEntity>(s => s.Version).OnDelete(DeleteBehavior.Cascade);
            // The proxies ask for the newest import: one index look-up.
            e.HasIndex(s => s.SourceVersion).IsUnique().HasDatabaseName("ux_federation_list_signatures_source_version");
        });

        modelBuilder.Entity<FederationDomainEntity>(e =>
        {
            e.ToTable("federation_domains");
            e.HasKey(d => d.Id);
            e.Property(d => d.Id).HasColumnName("id").UseIdentityAlwaysColumn();
            e.Property(d => d.Domain).HasColumnName("domain").HasMaxLength(253);
            e.Property(d => d.TelematikId).HasColumnName("telematik_id").HasMaxLength(256);
            e.Property(d => d.IsInsurance).HasColumnName("is_insurance");
            e.Property(d => d.Ik).HasColumnName("ik");
            e.Property(d => d.AddedInVersion).HasColumnName("added_in_version");
            e.Property(d => d.RemovedInVersion).HasColumnName("removed_in_version");
            e.HasOne<FederationListVersionEntity>().WithMany().HasForeignKey(d => d.AddedInVersion).OnDelete(DeleteBehavior.Restrict);
            e.HasOne<FederationListVersionEntity>().WithMany().HasForeignKey(d => d.RemovedInVersion).OnDelete(DeleteBehavior.Restrict);
            // At most one current row per domain: the database itself refuses a duplicate.
            e.HasIndex(d => d.Domain).IsUnique().HasFilter("removed_in_version IS NULL").HasDatabaseName("ux_federation_domains_current");
            e.HasIndex(d => d.RemovedInVersion).HasDatabaseName("ix_federation_domains_removed_in_version");
        });

        modelBuilder.Entity<SupportInformationEntity>(e =>
        {
            e.ToTable("support_information");
            e.HasKey(s => s.ServerName);
            e.Property(s => s.ServerName).HasColumnName("server_name").HasMaxLength(255);
            e.Property(s => s.SupportPage).HasColumnName("support_page").HasMaxLength(2048);
            e.Property(s => s.UpdatedAt).HasColumnName("updated_at");
            e.HasMany(s => s.Contacts).WithOne().HasForeignKey(c => c.ServerName).OnDelete(DeleteBehavior.Cascade);
        });

        modelBuilder.Entity<SupportContactEntity>(e =>
        {
            e.ToTable("support_contacts");
            e.HasKey(c => c.Id);
            e.Property(c => c.Id).HasColumnName("id").UseIdentityAlwaysColumn();
            e.Property(c => c.ServerName).HasColumnName("server_name").HasMaxLength(255);
            e.Property(c => c.Position).HasColumnName("position");
            e.Property(c => c.Role).HasColumnName("role").HasMaxLength(255);
            e.Property(c => c.EmailAddress).HasColumnName("email_address").HasMaxLength(320);
            e.Property(c => c.MatrixId).HasColumnName("matrix_id").HasMaxLength(255);
        });
    }
}
