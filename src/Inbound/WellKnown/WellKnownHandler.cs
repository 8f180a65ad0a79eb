using MessengerProxy.Pipeline.Http;
using System.Text.Json;
using MessengerProxy.Federation;
using MessengerProxy.Hosting.Io;
using MessengerProxy.Inbound.Configuration;
using MessengerProxy.Inbound.Diagnostics;
using MessengerProxy.Inbound.Pipeline;
using MessengerProxy.Pipeline;
using MessengerProxy.Policy;
using MessengerProxy.Policy.Endpoints;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Inbound.WellKnown;

/// <summary>
/// Answers <c>/.well-known/matrix/server</c> and (in static mode) <c>/.well-known/matrix/client</c> from
/// configuration, and relays <c>/.well-known/matrix/support</c> from the registration service.
/// </summary>
internal sealed class WellKnownHandler
{
    public const string SupportHttpClient = "MessengerProxy.WellKnownSupport";

    // The support document is a handful of contacts; a larger answer is not one.
    private const int MaxSupportBytes = 64 * 1024;

    private readonly byte[]? _server;
    private readonly byte[]? _staticClient;
    private readonly WellKnownClientMode _clientMode;
    private readonly string? _supportUrl;
    private readonly IHttpClientFactory _httpClientFactory;
    private readonly ILogger _logger;

    public WellKnownHandler(IOptions<WellKnownOptions> options, IOptions<InboundOptions> inbound, IOptions<FederationOptions> federation,
        IHttpClientFactory httpClientFactory, ILogger<WellKnownHandler> logger)
    {
        var settings = options.Value;
        _clientMode = settings.ClientMode;
        _supportUrl = !string.IsNullOrEmpty(settings.SupportUrl) ? settings.SupportUrl : DefaultSupportUrl(federation.Value);
        _httpClientFactory = httpClientFactory;
        _logger = logger;

        if (!string.IsNullOrEmpty(settings.Server))
        {
            _server = Json(w => w.WriteString("m.server", settings.Server));
        }

        var clientBaseUrl = string.IsNullOrEmpty(settings.ClientBaseUrl) ? inbound.Value.PublicBaseUrl : settings.ClientBaseUrl;
        if (_clientMode == WellKnownClientMode.Static && !string.IsNullOrEmpty(clientBaseUrl))
        {
            _staticClient = Json(w =>
            {
                w.WriteStartObject("m.homeserver");
                w.WriteString("base_url", clientBaseUrl);
                w.WriteEndObject();
                if (!string.IsNullOrEmpty(settings.IdentityServerBaseUrl))
                {
                    w.WriteStartObject("m.identity_server");
                    w.WriteString("base_url", settings.IdentityServerBaseUrl);
                    w.WriteEndObject();
                }
            });
        }
    }

    // The registration service publishes support information per server name.
    private static string? DefaultSupportUrl(FederationOptions federation) =>
        string.IsNullOrEmpty(federation.RegistrationServiceUrl) || federation.OwnServerName is not { } own
            ? null
            : $"{federation.RegistrationServiceUrl.TrimEnd('/')}/backend/well-known-support/{Uri.EscapeDataString(own.ToString())}";

    /// <summary>True when the request was answered here; false when it should be forwarded.</summary>
    public async ValueTask<bool> TryAnswerAsync(HttpContext context, InboundRequestFeature request)
    {
        switch (request.Endpoint.Traits.WellKnown)
        {
            case WellKnownDocument.Server:
                await AnswerAsync(context, request, _server, "No server delegation is configured here");
                return true;

            case WellKnownDocument.Client when _clientMode != WellKnownClientMode.Forward:
                await AnswerAsync(context, request, _staticClient, "No client discovery information is configured here");
                return true;

            case WellKnownDocument.Support:
                await RelaySupportAsync(context, request);
                return true;

            default:
                return false;
        }
    }

    private static async Task AnswerAsync(HttpContext context, InboundRequestFeature request, byte[]? body, string missing)
    {
        request.Outcome = RequestOutcome.Answered;
        if (body is null)
        {
            await MatrixResponses.WriteErrorAsync(context, new MatrixError(404, MatrixErrorCode.NotFound, missing));
            return;
        }

        context.Response.StatusCode = 200;
        context.Response.Headers.CacheControl = "public, max-age=3600";
        await MatrixResponses.WriteJsonAsync(context, body);
    }

    private async Task RelaySupportAsync(HttpContext context, InboundRequestFeature request)
    {
        request.Outcome = RequestOutcome.Answered;
        if (_supportUrl is null)
        {
            await MatrixResponses.WriteErrorAsync(context, new MatrixError(404, MatrixErrorCode.NotFound, "No support information is published for this server"));
            return;
        }

        byte[] body;
        try
        {
            var client = _httpClientFactory.CreateClient(SupportHttpClient);
            using var response = await client.GetAsync(_supportUrl, HttpCompletionOption.ResponseHeadersRead, context.RequestAborted);
            if (response.StatusCode == System.Net.HttpStatusCode.NotFound)
            {
                await MatrixResponses.WriteErrorAsync(context, new MatrixError(404, MatrixErrorCode.NotFound, "No support information is published for this server"));
                return;
            }

            if (!response.IsSuccessStatusCode)
            {
                throw new HttpRequestException($"the registration service answered HTTP {(int)response.StatusCode}");
            }

            body = await ReadSupportDocumentAsync(response.Content, context.RequestAborted);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or FormatException && !context.RequestAborted.IsCancellationRequested)
        {
            Log.SupportUnavailable(_logger, _supportUrl, ex.Message);
            request.Outcome = RequestOutcome.UpstreamError;
            await MatrixResponses.WriteErrorAsync(context, new MatrixError(502, MatrixErrorCode.Unknown, "Support information is temporarily unavailable"));
            return;
        }

        context.Response.StatusCode = 200;
        await MatrixResponses.WriteJsonAsync(context, body);
    }

    private static async Task<byte[]> ReadSupportDocumentAsync(HttpContent content, CancellationToken cancellationToken)
    {
        await using var stream = await content.ReadAsStreamAsync(cancellationToken);
        var body = await BoundedRead.ToEndAsync(stream, MaxSupportBytes, "the support document", content.Headers.ContentLength, cancellationToken);

        // Relay only a well-formed object, re-serialised, so nothing but JSON reaches clients.
        try
        {
            using var document = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 16 });
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new FormatException("the support document is not a JSON object");
            }

            return Json(document.RootElement);
        }
        catch (JsonException ex)
        {
            throw new FormatException("the support document is not valid JSON", ex);
        }
    }

    private static byte[] Json(JsonElement element)
    {
        using var output = new MemoryStream();
        using (var writer = new Utf8JsonWriter(output))
        {
            element.WriteTo(writer);
        }

        return output.ToArray();
    }

    private static byte[] Json(Action<Utf8JsonWriter> writeProperties)
    {
        using var output = new MemoryStream();
        using (var writer = new Utf8JsonWriter(output))
        {
            writer.WriteStartObject();
            writeProperties(writer);
            writer.WriteEndObject();
        }

        return output.ToArray();
    }
}
