using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using MessengerProxy.Persistence.Support;
using MessengerProxy.Trust;

namespace MessengerProxy.Registration.Validation;

/// <summary>Reads and writes the <c>m.support</c> document of the Matrix spec (<c>/.well-known/matrix/support</c>).</summary>
internal static partial class SupportJson
{
    public static bool TryParse(string serverName, ReadOnlyMemory<byte> json, out SupportInformation information, out string error)
    {
        information = null!;
        if (!StrictJson.TryDeserialize(json, StrictJsonContext.Default.SupportDocument, WrongType, out var document, out error))
        {
            return false;
        }

        if (document.SupportPage is { } page
            && (!Uri.TryCreate(page, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp) || page.Length > 2048))
        {
            error = $"support_page: {WrongType("support_page")}";
            return false;
        }

        var contacts = new List<SupportContact>(document.Contacts.Count);
        for (var index = 0; index < document.Contacts.Count; index++)
        {
            var path = $"contacts[{index}]";
            if (document.Contacts[index] is not { } contact)
            {
                error = $"{path}: must be an object";
                return false;
            }

            if (!(contact.Role is "m.role.admin" or "m.role.security" || NamespacedRole().IsMatch(contact.Role)))
            {
                error = $"{path}.role: {WrongType("role")}";
                return false;
            }

            if (contact.EmailAddress is { } email && (email.Length > 320 || !EmailAddress().IsMatch(email)))
            {
                error = $"{path}.email_address: {WrongType("email_address")}";
                return false;
            }

            if (contact.MatrixId is { } matrixId && (matrixId.Length > 255 || !MatrixUserId().IsMatch(matrixId)))
            {
                error = $"{path}.matrix_id: {WrongType("matrix_id")}";
                return false;
            }

            if (contact.EmailAddress is null && contact.MatrixId is null)
            {
                error = $"{path}: needs an email_address or a matrix_id";
                return false;
            }

            contacts.Add(new SupportContact(contact.Role, contact.EmailAddress, contact.MatrixId));
        }

        if (document.SupportPage is null && contacts.Count == 0)
        {
            error = "contacts: at least one contact or a support_page is required";
            return false;
        }

        information = new SupportInformation(serverName, document.SupportPage, contacts);
        return true;
    }

    // [DisallowNull] is for reading; written, a null member is left out (hence the '!').
    public static byte[] Serialize(SupportInformation information) =>
        JsonSerializer.SerializeToUtf8Bytes(
            new SupportDocument
            {
                Contacts = [.. information.Contacts.Select(c => new SupportContactDocument(c.Role) { EmailAddress = c.EmailAddress!, MatrixId = c.MatrixId! })],
                SupportPage = information.SupportPage!,
            },
            SupportJsonContext.Default.SupportDocument);

    private static string WrongType(string path) =>
        StrictJson.MemberOf(path) switch
        {
            ("", _) => "the body must be a JSON object",
            ("contacts", false) => "must be an array",
            ("contacts", true) => "must be an object",
            ("support_page", _) => "must be an absolute http(s) URL",
            ("role", _) => "must be m.role.admin, m.role.security or a namespaced role",
            ("email_address", _) => "must be an email address",
            ("matrix_id", _) => "must be a Matrix user ID like @admin:example.org",
            _ => "has the wrong type",
        };

    [GeneratedRegex(@"^[a-z0-9]+(\.[a-z0-9_-]+)+$")]
    private static partial Regex NamespacedRole();

    [GeneratedRegex(@"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
    private static partial Regex EmailAddress();

    [GeneratedRegex(@"^@[a-z0-9._=/+-]+:[A-Za-z0-9.:\[\]-]+$")]
    private static partial Regex MatrixUserId();
}

/// <summary>The <c>m.support</c> document (Matrix spec, <c>/.well-known/matrix/support</c>) on the wire.</summary>
/// <remarks>
/// The optional members are <see cref="DisallowNullAttribute"/> init properties: absent is fine, a JSON
/// <c>null</c> is refused like any other value of the wrong type.
/// </remarks>
internal sealed record SupportDocument
{
    private readonly IReadOnlyList<SupportContactDocument> _contacts = [];

    // Absent: the source-generated reader passes null (see FederationDomain.Ik).
    [JsonPropertyName("contacts")]
    public IReadOnlyList<SupportContactDocument> Contacts { get => _contacts; init => _contacts = value ?? []; }

    [JsonPropertyName("support_page")]
    [DisallowNull]
    public string? SupportPage { get; init; }
}

internal sealed record SupportContactDocument([property: JsonPropertyName("role")] string Role)
{
    [JsonPropertyName("email_address")]
    [DisallowNull]
    [JsonPropertyOrder(-2)]
    public string? EmailAddress { get; init; }

    [JsonPropertyName("matrix_id")]
    [DisallowNull]
    [JsonPropertyOrder(-1)]
    public string? MatrixId { get; init; }
}

/// <summary>Writes the support document (members without a value are left out).</summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(SupportDocument))]
internal sealed partial class SupportJsonContext : JsonSerializerContext;
