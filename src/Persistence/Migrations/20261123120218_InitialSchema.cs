using System;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

#nullable disable

namespace MessengerProxy.Persistence.Migrations
{
    /// <inheritdoc />
    public partial class InitialSchema : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "federation_list_versions",
                columns: table => new
                {
                    version = table.Column<long>(type: "bigint", nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    source = table.Column<string>(type: "character varying(2048)", maxLength: 2048, nullable: false),
                    source_version = table.Column<long>(type: "bigint", nullable: true),
                    signer = table.Column<string>(type: "character varying(1024)", maxLength: 1024, nullable: true),
                    domain_count = table.Column<int>(type: "integer", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_federation_list_versions", x => x.version);
                });

            migrationBuilder.CreateTable(
                name: "support_information",
                columns: table => new
                {
                    server_name = table.Column<string>(type: "character varying(255)", maxLength: 255, nullable: false),
                    support_page = table.Column<string>(type: "character varying(2048)", maxLength: 2048, nullable: true),
                    updated_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_support_information", x => x.server_name);
                });

            migrationBuilder.CreateTable(
                name: "federation_domains",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityAlwaysColumn),
                    domain = table.Column<string>(type: "character varying(253)", maxLength: 253, nullable: false),
                    telematik_id = table.Column<string>(type: "character varying(256)", maxLength: 256, nullable: false),
                    is_insurance = table.Column<bool>(type: "boolean", nullable: false),
                    ik = table.Column<string[]>(type: "text[]", nullable: false),
                    added_in_version = table.Column<long>(type: "bigint", nullable: false),
                    removed_in_version = table.Column<long>(type: "bigint", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_federation_domains", x => x.id);
                    table.ForeignKey(
                        name: "FK_federation_domains_federation_list_versions_added_in_version",
                        column: x => x.added_in_version,
                        principalTable: "federation_list_versions",
                        principalColumn: "version",
                        onDelete: ReferentialAction.Restrict);
                    table.ForeignKey(
                        name: "FK_federation_domains_federation_list_versions_removed_in_vers~",
                        column: x => x.removed_in_version,
                        principalTable: "federation_list_versions",
                        principalColumn: "version",
                        onDelete: ReferentialAction.Restrict);
                });

            migrationBuilder.CreateTable(
                name: "support_contacts",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityAlwaysColumn),
                    server_name = table.Column<string>(type: "character varying(255)", maxLength: 255, nullable: false),
                    position = table.Column<int>(type: "integer", nullable: false),
                    role = table.Column<string>(type: "character varying(255)", maxLength: 255, nullable: false),
                    email_address = table.Column<string>(type: "character varying(320)", maxLength: 320, nullable: true),
                    matrix_id = table.Column<string>(type: "character varying(255)", maxLength: 255, nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_support_contacts", x => x.id);
                    table.ForeignKey(
                        name: "FK_support_contacts_support_information_server_name",
                        column: x => x.server_name,
                        principalTable: "support_information",
                        principalColumn: "server_name",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "IX_federation_domains_added_in_version",
                table: "federation_domains",
                column: "added_in_version");

            migrationBuilder.CreateIndex(
                name: "ix_federation_domains_removed_in_version",
                table: "federation_domains",
                column: "removed_in_version");

            migrationBuilder.CreateIndex(
                name: "ux_federation_domains_current",
                table: "federation_domains",
                column: "domain",
                unique: true,
                filter: "removed_in_version IS NULL");

            migrationBuilder.CreateIndex(
                name: "IX_support_contacts_server_name",
                table: "support_contacts",
                column: "server_name");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "federation_domains");

            migrationBuilder.DropTable(
                name: "support_contacts");

            migrationBuilder.DropTable(
                name: "federation_list_versions");

            migrationBuilder.DropTable(
                name: "support_information");
        }
    }
}
