using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace MessengerProxy.Persistence.Migrations
{
    /// <inheritdoc />
    public partial class SignedFederationLists : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "federation_list_signatures",
                columns: table => new
                {
                    version = table.Column<long>(type: "bigint", nullable: false),
                    source_version = table.Column<long>(type: "bigint", nullable: false),
                    jws = table.Column<string>(type: "text", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_federation_list_signatures", x => x.version);
                    table.ForeignKey(
                        name: "FK_federation_list_signatures_federation_list_versions_version",
                        column: x => x.version,
                        principalTable: "federation_list_versions",
                        principalColumn: "version",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "ux_federation_list_signatures_source_version",
                table: "federation_list_signatures",
                column: "source_version",
                unique: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "federation_list_signatures");
        }
    }
}
