using System.Diagnostics.Metrics;
using MessengerProxy.Policy;
using MessengerProxy.Policy.Federation;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Federation;

/// <summary>Why a transaction was refused: the Matrix error to answer and a reason for logs and metrics that names no user or room.</summary>
internal sealed record TransactionRefusal(MatrixError Error, string Reason);

/// <summary>
/// The domains inside a federation transaction, checked for both proxies (inbound: from other servers; outbound:
/// from our homeserver): every server name <see cref="TransactionScanner"/> finds must pass the federation list as
/// <see cref="FederationListCache.Check"/> judges it (the own server always passes). The transaction is signed as a
/// whole, so no PDU can be dropped from it: one unlisted name refuses all of it, <c>403 M_FORBIDDEN</c>. A name
/// not in the list first triggers the cache's rate-limited refresh, and the transaction is scanned again if the
/// refresh listed it. Counted in <c>messengerproxy_federation_transactions_scanned_total{direction}</c> and
/// <c>messengerproxy_federation_transaction_refusals_total{direction,reason}</c>.
/// </summary>
internal sealed class TransactionDomainCheck
{
    // Each further scan needs a name the previous refresh listed; the cache's refresh interval bounds them anyway.
    private const int MaxScans = 3;

    private readonly FederationListCache _federation;
    private readonly bool _enabled;
    private readonly Counter<long> _scanned;
    private readonly Counter<long> _refused;

    public TransactionDomainCheck(FederationListCache federation, IOptions<FederationOptions> options, IMeterFactory meterFactory)
    {
        _federation = federation;
        _enabled = options.Value.CheckTransactionDomains && options.Value.Enforce;
        var meter = meterFactory.Create(FederationListCache.MeterName);
        _scanned = meter.CreateCounter<long>("transactions_scanned_total", description: "Federation transactions whose PDUs and EDUs were checked for unlisted domains, by direction.");
        _refused = meter.CreateCounter<long>("transaction_refusals_total", description: "Federation transactions refused whole, by direction and reason.");
    }

    /// <summary><c>Federation:CheckTransactionDomains</c>, while the list is enforced at all.</summary>
    public bool Enabled => _enabled;

    /// <param name="direction"><c>inbound</c> or <c>outbound</c>, the metrics' label.</param>
    /// <returns>Null when the transaction may be forwarded.</returns>
    public async ValueTask<TransactionRefusal?> CheckAsync(ReadOnlyMemory<byte> transaction, string direction, CancellationToken cancellationToken)
    {
        var directionTag = new KeyValuePair<string, object?>("direction", direction);
        _scanned.Add(1, directionTag);
        for (var scans = 1; ; scans++)
        {
            var scan = TransactionScanner.Scan(transaction.Span, new ListFilter(_federation));
            TransactionRefusal refusal;
            switch (scan.Verdict)
            {
                case TransactionScanVerdict.Clean:
                    return null;

                case TransactionScanVerdict.NotJson:
                    refusal = new(new MatrixError(400, MatrixErrorCode.NotJson, "The transaction is not valid JSON"), "not_json");
                    break;

                case TransactionScanVerdict.Malformed:
                    refusal = new(new MatrixError(400, MatrixErrorCode.BadJson, scan.Field is null ? scan.Problem! : $"{scan.Field}: {scan.Problem}"), "malformed");
                    break;

                default:
                    var check = await _federation.CheckAsync(scan.ServerName!, cancellationToken);
                    if (check.Verdict == FederationVerdict.Allowed && scans < MaxScans)
                    {
                        continue;
                    }

                    // Allowed only after the last scan: still refused, since the rest of the transaction is unread.
                    var error = FederationErrors.For(check, scan.ServerName!, scan.Field!)
                        ?? new MatrixError(403, MatrixErrorCode.Forbidden, "The federation list changed while the transaction was checked");
                    refusal = new(error with { Message = $"{error.Message} ({scan.Field})" },
                        check.Verdict == FederationVerdict.ListUnavailable ? "list_unavailable" : "unlisted_domain");
                    break;
            }

            _refused.Add(1, directionTag, new KeyValuePair<string, object?>("reason", refusal.Reason));
            return refusal;
        }
    }

    // The cache's synchronous check: an O(1) look-up that allocates nothing for a listed name.
    private readonly struct ListFilter(FederationListCache federation) : IServerNameFilter
    {
        public bool Allows(ReadOnlySpan<char> serverName) => federation.Check(serverName).Verdict == FederationVerdict.Allowed;
    }
}
