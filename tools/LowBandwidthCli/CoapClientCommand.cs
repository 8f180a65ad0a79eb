using System.Text;
using MessengerProxy.LowBandwidth.Cbor;
using MessengerProxy.LowBandwidth.Coap;

namespace MessengerProxy.LowBandwidthCli;

/// <summary>
/// One Matrix request through the front door, as lb's <c>coap</c> tool does it: path enums, token in option
/// 256, CBOR body, confirmable request retransmitted with backoff, separate responses acknowledged,
/// Block1 for large bodies and Block2 for large answers; prints the answer as JSON.
/// </summary>
internal static class CoapClientCommand
{
    public static async Task<int> RunAsync(string method, string url, string[] options, Stream stdout, TextWriter stderr)
    {
        Cli.CheckNoOther(options.Where((o, i) => i == 0 || !IsValueOption(options[i - 1])).ToArray(),
            "--token", "--data", "--integer-keys", "--ca", "--insecure", "--no-enums", "--verbose");
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("coap" or "coaps"))
        {
            throw new UsageException($"'{url}' is not a coap:// or coaps:// URL");
        }

        var token = Cli.Value(options, "--token");
        var data = Cli.Value(options, "--data");
        var integerKeys = Cli.Flag(options, "--integer-keys");
        var verbose = Cli.Flag(options, "--verbose");
        var ca = Cli.Value(options, "--ca");
        var insecure = Cli.Flag(options, "--insecure");
        if (uri.Scheme == "coaps" && ca is null && !insecure)
        {
            throw new UsageException("coaps:// needs --ca FILE (or --insecure)");
        }

        using var client = await LowBandwidthClient.ConnectAsync(uri, ca, insecure, verbose ? stderr : null);
        var (response, bytes) = client.Send(method, uri.AbsolutePath, uri.Query, token, data is null ? null : Encoding.UTF8.GetBytes(data), integerKeys,
            useEnums: !Cli.Flag(options, "--no-enums"));
        if (response is null)
        {
            await stderr.WriteLineAsync("mp-lb: no answer");
            return 1;
        }

        await stderr.WriteLineAsync(CoapMessage.FormatCode(response.Code));
        var format = response.Find(CoapOptionNumbers.ContentFormat)?.UIntValue;
        if (bytes.Length > 0)
        {
            if (format is CoapContentFormats.Cbor)
            {
                await stdout.WriteAsync(Cli.Pretty(new CborJsonConverter(CborKeyTable.V1).CborToJson(bytes, out _)));
            }
            else
            {
                await stdout.WriteAsync(bytes);
            }

            await stdout.WriteAsync("\n"u8.ToArray());
        }

        return response.Code >> 5 == 2 ? 0 : 1;
    }

    private static bool IsValueOption(string option) => option is "--token" or "--data" or "--ca";
}
