using System.Text;
using System.Text.Json;
using MessengerProxy.LowBandwidth.Cbor;

namespace MessengerProxy.LowBandwidthCli;

/// <summary>Argument handling of <c>mp-lb</c>; every error is one line on stderr and exit code 2.</summary>
internal static class Cli
{
    public const string Usage = """
        usage:
          mp-lb jc json2cbor [--integer-keys] [--hex]   JSON on stdin → CBOR on stdout (MSC3079 canonical form)
          mp-lb jc cbor2json [--hex]                    CBOR (binary, or hex with --hex) on stdin → JSON on stdout
          mp-lb (get|post|put|delete) URL [options]     a Matrix request through the front door; prints the answer as JSON
            URL           coaps://host:port/_matrix/client/... (or coap:// for a plain test listener); path enums are used where they exist
            --token T     access token (sent once per run, in option 256)
            --data JSON   request body (sent as CBOR)
            --integer-keys  ask for and send the MSC3079 integer keys (option 257 = 1)
            --ca FILE     PEM CA that must have issued the server's DTLS certificate; --insecure accepts any
            --no-enums    send full paths instead of path enums
            --verbose     show the CoAP messages on stderr
        exit code: 0 for a 2.xx answer, 1 for any other answer or no answer, 2 for wrong usage
        """;

    public static async Task<int> RunAsync(string[] args, Stream stdin, Stream stdout, TextWriter stderr)
    {
        try
        {
            return args switch
            {
                ["jc", "json2cbor", .. var rest] => JsonToCbor(rest, stdin, stdout),
                ["jc", "cbor2json", .. var rest] => CborToJson(rest, stdin, stdout),
                [var method, var url, .. var rest] when method is "get" or "post" or "put" or "delete" =>
                    await CoapClientCommand.RunAsync(method.ToUpperInvariant(), url, rest, stdout, stderr),
                _ => throw new UsageException("unknown command"),
            };
        }
        catch (UsageException ex)
        {
            await stderr.WriteLineAsync($"mp-lb: {ex.Message}");
            await stderr.WriteLineAsync(Usage);
            return 2;
        }
        catch (CborConversionException ex)
        {
            await stderr.WriteLineAsync($"mp-lb: {ex.Message}");
            return 1;
        }
        catch (Org.BouncyCastle.Tls.TlsException ex)
        {
            await stderr.WriteLineAsync($"mp-lb: DTLS handshake failed: {ex.Message}");
            return 1;
        }
        catch (System.Net.Sockets.SocketException ex)
        {
            await stderr.WriteLineAsync($"mp-lb: {ex.Message}");
            return 1;
        }
    }

    private static int JsonToCbor(string[] options, Stream stdin, Stream stdout)
    {
        var integerKeys = Flag(options, "--integer-keys");
        var hex = Flag(options, "--hex");
        CheckNoOther(options, "--integer-keys", "--hex");
        var cbor = new CborJsonConverter(CborKeyTable.V1).JsonToCbor(ReadAll(stdin), integerKeys);
        if (hex)
        {
            stdout.Write(Encoding.ASCII.GetBytes(Convert.ToHexStringLower(cbor) + "\n"));
        }
        else
        {
            stdout.Write(cbor);
        }

        return 0;
    }

    private static int CborToJson(string[] options, Stream stdin, Stream stdout)
    {
        var hex = Flag(options, "--hex");
        CheckNoOther(options, "--hex");
        var input = ReadAll(stdin);
        byte[] cbor;
        try
        {
            cbor = hex ? Convert.FromHexString(Encoding.ASCII.GetString(input).Trim()) : input;
        }
        catch (FormatException)
        {
            throw new UsageException("--hex input is not hexadecimal");
        }

        var json = new CborJsonConverter(CborKeyTable.V1).CborToJson(cbor, out _);
        stdout.Write(Pretty(json));
        stdout.Write("\n"u8);
        return 0;
    }

    public static byte[] Pretty(byte[] json)
    {
        using var document = JsonDocument.Parse(json);
        using var output = new MemoryStream();
        using (var writer = new Utf8JsonWriter(output, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            document.WriteTo(writer);
        }

        return output.ToArray();
    }

    public static bool Flag(string[] options, string name) => options.Contains(name, StringComparer.Ordinal);

    public static string? Value(string[] options, string name)
    {
        var index = Array.IndexOf(options, name);
        if (index < 0)
        {
            return null;
        }

        return index + 1 < options.Length ? options[index + 1] : throw new UsageException($"{name} needs a value");
    }

    public static void CheckNoOther(string[] options, params string[] known)
    {
        for (var i = 0; i < options.Length; i++)
        {
            if (!known.Contains(options[i], StringComparer.Ordinal))
            {
                throw new UsageException($"unknown option '{options[i]}'");
            }
        }
    }

    private static byte[] ReadAll(Stream stream)
    {
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return buffer.ToArray();
    }
}

internal sealed class UsageException(string message) : Exception(message);
