using System.Net;
using System.Net.Http.Headers;
using MessengerProxy.Persistence;
using MessengerProxy.Persistence.Federation;
using MessengerProxy.Registration.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Registration.Vzd;

/// <summary>
/// Fetches the signed federation list from the VZD every poll interval (<c>?version=</c> of the last import;
/// 204 means nothing newer) and imports it through the same verification as an uploaded one.
/// </summary>
internal sealed class VzdFederationListFetcher : BackgroundService
{
    public const string HttpClientName = "MessengerProxy.Vzd";

    private readonly IHttpClientFactory _httpClientFactory;
    private readonly FederationListService _service;
    private readonly FederationListStore _store;
    private readonly VzdOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public VzdFederationListFetcher(
        IHttpClientFactory httpClientFactory,
        FederationListService service,
        FederationListStore store,
        IOptions<RegistrationOptions> options,
        TimeProvider time,
        ILogger<VzdFederationListFetcher> logger)
    {
        _httpClientFactory = httpClientFactory;
        _service = service;
        _store = store;
        _options = options.Value.Vzd;
        _time = time;
        _logger = logger;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (string.IsNullOrEmpty(_options.FederationListUrl))
        {
            return;
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            await FetchOnceAsync(stoppingToken);
            try
            {
                await Task.Delay(_options.PollInterval, _time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    public async Task FetchOnceAsync(CancellationToken cancellationToken)
    {
        var url = _options.FederationListUrl!;
        try
        {
            var last = await _store.GetLastSourceVersionAsync(cancellationToken);
            var requestUri = last is null ? url : url + (url.Contains('?') ? "&" : "?") + "version=" + last.Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
            using var request = new HttpRequestMessage(HttpMethod.Get, requestUri);
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/octet-stream"));
            if (!string.IsNullOrEmpty(_options.BearerToken))
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _options.BearerToken);
            }

            using var response = await _httpClientFactory.CreateClient(HttpClientName).SendAsync(request, cancellationToken);
            if (response.StatusCode is HttpStatusCode.NoContent or HttpStatusCode.NotModified)
            {
                Log.VzdNotModified(_logger, last);
                return;
            }

            if (!response.IsSuccessStatusCode)
            {
                Log.VzdFetchFailed(_logger, url, $"HTTP {(int)response.StatusCode}");
                return;
            }

            var jws = await response.Content.ReadAsStringAsync(cancellationToken);
            // An empty list from the VZD would suspend all federation; it is refused, and an operator who
            // really wants it imports it with allowEmpty=true.
            await _service.ImportAsync(jws, "vzd:" + url, allowEmpty: false, cancellationToken);
        }
        catch (Exception ex) when ((ex is HttpRequestException or TaskCanceledException or Npgsql.NpgsqlException || DatabaseFailures.IsUnavailable(ex)) && !cancellationToken.IsCancellationRequested)
        {
            Log.VzdFetchFailed(_logger, url, ex.Message);
        }
    }
}
