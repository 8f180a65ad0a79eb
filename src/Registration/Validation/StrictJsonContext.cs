using System.Text.Json.Serialization;
using MessengerProxy.Policy.Federation;
using MessengerProxy.Trust;

namespace MessengerProxy.Registration.Validation;

/// <summary>The strict reading of every JSON body the service accepts (see <see cref="StrictJson"/>).</summary>
[JsonSourceGenerationOptions(
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    AllowDuplicateProperties = false,
    RespectRequiredConstructorParameters = true,
    RespectNullableAnnotations = true,
    MaxDepth = StrictJson.MaxDepth)]
[JsonSerializable(typeof(FederationListDocument))]
[JsonSerializable(typeof(FederationDomain))]
[JsonSerializable(typeof(SupportDocument))]
internal sealed partial class StrictJsonContext : JsonSerializerContext;
