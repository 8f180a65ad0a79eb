using System.Text.Json;
using System.Text.RegularExpressions;
using MessengerProxy.Persistence.Support;

namespace MessengerProxy.Registration.Validation;

/// <summary>Reads and writes the <c>m.support</c> document of the Matrix spec (<c>/.well-known/matrix/support</c>).</summary>
internal static partial class SupportJson
{
    public static bool TryParse(string serverName, ReadOnlyMemory<byte> json, out SupportInformation information, out string error)
    {
        information = null!;
        if (!FederationListJson.TryParseDocument(json, out var document, out error))
        {
            return false;
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                error = "the body must be a JSON object";
                return false;
            }

            string? supportPage = null;
            var contacts = new List<SupportContact>();
            if (!FederationListJson.ForEachProperty(document.RootElement, string.Empty, (name, value, path) => name switch
                {
                    "support_page" => ReadSupportPage(value, path, out supportPage),
                    "contacts" => ReadContacts(value, path, contacts),
                    _ => $"{path}: unknown field",
                }, out error))
            {
                return false;
            }

            if (supportPage is null && contacts.Count == 0)
            {
                error = "contacts: at least one contact or a support_page is required";
                return false;
            }

            information = new SupportInformation(serverName, supportPage, contacts);
            return true;
        }
    }

    public static byte[] Serialize(SupportInformation information)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteStartArray("contacts");
            foreach (var contact in information.Contacts)
            {
                writer.WriteStartObject();
                if (contact.EmailAddress is not null)
                {
                    writer.WriteString("email_address", contact.EmailAddress);
                }

                if (contact.MatrixId is not null)
                {
                    writer.WriteString("matrix_id", contact.MatrixId);
                }

                writer.WriteString("role", contact.Role);
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            if (information.SupportPage is not null)
            {
                writer.WriteString("support_page", information.SupportPage);
            }

            writer.WriteEndObject();
        }

        return buffer.ToArray();
    }

    private static string? ReadSupportPage(JsonElement value, string path, out string? supportPage)
    {
        supportPage = null;
        if (value.ValueKind != JsonValueKind.String || !Uri.TryCreate(value.GetString(), UriKind.Absolute, out var uri)
            || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp) || value.GetString()!.Length > 2048)
        {
            return $"{path}: must be an absolute http(s) URL";
        }

        supportPage = value.GetString();
        return null;
    }

    private static string? ReadContacts(JsonElement value, string path, List<SupportContact> contacts)
    {
        if (value.ValueKind != JsonValueKind.Array)
        {
            return $"{path}: must be an array";
        }

        var index = 0;
        foreach (var item in value.EnumerateArray())
        {
            var itemPath = $"{path}[{index++}]";
            if (item.ValueKind != JsonValueKind.Object)
            {
                return $"{itemPath}: must be an object";
            }

            string? role = null, email = null, matrixId = null;
            if (!FederationListJson.ForEachProperty(item, itemPath, (name, field, fieldPath) =>
                {
                    var text = field.ValueKind == JsonValueKind.String ? field.GetString() : null;
                    switch (name)
                    {
                        case "role":
                            role = text;
                            return text is not null && (text is "m.role.admin" or "m.role.security" || NamespacedRole().IsMatch(text))
                                ? null
                                : $"{fieldPath}: must be m.role.admin, m.role.security or a namespaced role";
                        case "email_address":
                            email = text;
                            return text is not null && text.Length <= 320 && EmailAddress().IsMatch(text) ? null : $"{fieldPath}: must be an email address";
                        case "matrix_id":
                            matrixId = text;
                            return text is not null && text.Length <= 255 && MatrixUserId().IsMatch(text) ? null : $"{fieldPath}: must be a Matrix user ID like @admin:example.org";
                        default:
                            return $"{fieldPath}: unknown field";
                    }
                }, out var error))
            {
                return error;
            }

            if (role is null)
            {
                return $"{itemPath}.role: required";
            }

            if (email is null && matrixId is null)
            {
                return $"{itemPath}: needs an email_address or a matrix_id";
            }

            contacts.Add(new SupportContact(role, email, matrixId));
        }

        return null;
    }

    [GeneratedRegex(@"^[a-z0-9]+(\.[a-z0-9_-]+)+$")]
    private static partial Regex NamespacedRole();

    [GeneratedRegex(@"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
    private static partial Regex EmailAddress();

    [GeneratedRegex(@"^@[a-z0-9._=/+-]+:[A-Za-z0-9.:\[\]-]+$")]
    private static partial Regex MatrixUserId();
}
