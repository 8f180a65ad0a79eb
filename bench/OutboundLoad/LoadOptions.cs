using System.Globalization;
using System.Net;

namespace MessengerProxy.OutboundLoad;

/// <summary>Command-line settings of the load generator.</summary>
public sealed class LoadOptions
{
    /// <summary>Proxy endpoint; <c>null</c> for direct connections to the target.</summary>
    public IPEndPoint? Proxy { get; private set; }

    /// <summary>Host name of the target: TLS server name, <c>Host</c> header and CONNECT authority.</summary>
    public string TargetHost { get; private set; } = "remote.test";

    public int TargetPort { get; private set; } = 443;

    /// <summary>Host written into the CONNECT line instead of <see cref="TargetHost"/> (e.g. an IP address).</summary>
    public string? TunnelHost { get; private set; }

    /// <summary>Address to TCP-connect to in direct mode (the target's name is not resolved).</summary>
    public IPAddress ConnectAddress { get; private set; } = IPAddress.Loopback;

    /// <summary>PEM file of the CA that must have issued the server certificate seen by the client.</summary>
    public string CaPath { get; private set; } = string.Empty;

    public int Concurrency { get; private set; } = 32;

    public double DurationSeconds { get; private set; } = 10;

    public double WarmupSeconds { get; private set; } = 2;

    public string Path { get; private set; } = "/_matrix/federation/v1/version";

    /// <summary>Requests sent through one tunnel before it is closed; 0 means unlimited.</summary>
    public int RequestsPerTunnel { get; private set; }

    public double TimeoutSeconds { get; private set; } = 10;

    /// <summary>Allow TLS session resumption between tunnels (off: every tunnel does a full handshake).</summary>
    public bool TlsResume { get; private set; }

    /// <summary>Free-form label copied into the output.</summary>
    public string Label { get; private set; } = string.Empty;

    /// <summary>Print requests per second for every second of the run to standard error.</summary>
    public bool Timeline { get; private set; }

    /// <summary>Certificate-minting mode: this many distinct names, each contacted once, then all again.</summary>
    public int MintCount { get; private set; }

    /// <summary>Names in minting mode are <c>{MintPrefix}{i}.{TargetHost}</c>.</summary>
    public string MintPrefix { get; private set; } = "h";

    public int MintStart { get; private set; } = 1;

    public static LoadOptions Parse(string[] args)
    {
        var o = new LoadOptions();
        for (var i = 0; i < args.Length; i++)
        {
            var name = args[i];
            if (name == "--timeline")
            {
                o.Timeline = true;
                continue;
            }
            if (name == "--tls-resume")
            {
                o.TlsResume = true;
                continue;
            }
            if (i + 1 >= args.Length)
            {
                throw new ArgumentException($"{name} needs a value");
            }
            var value = args[++i];
            switch (name)
            {
                case "--proxy":
                    o.Proxy = IPEndPoint.Parse(value);
                    break;
                case "--target":
                    (o.TargetHost, o.TargetPort) = SplitHostPort(value);
                    break;
                case "--tunnel-host":
                    o.TunnelHost = value;
                    break;
                case "--connect-address":
                    o.ConnectAddress = IPAddress.Parse(value);
                    break;
                case "--ca":
                    o.CaPath = value;
                    break;
                case "--concurrency":
                    o.Concurrency = PositiveInt(name, value);
                    break;
                case "--duration":
                    o.DurationSeconds = NonNegativeDouble(name, value);
                    break;
                case "--warmup":
                    o.WarmupSeconds = NonNegativeDouble(name, value);
                    break;
                case "--path":
                    o.Path = value;
                    break;
                case "--requests-per-tunnel":
                    o.RequestsPerTunnel = int.Parse(value, CultureInfo.InvariantCulture);
                    if (o.RequestsPerTunnel < 0)
                    {
                        throw new ArgumentException("--requests-per-tunnel must be 0 (unlimited) or more");
                    }
                    break;
                case "--timeout":
                    o.TimeoutSeconds = NonNegativeDouble(name, value);
                    break;
                case "--label":
                    o.Label = value;
                    break;
                case "--mint-count":
                    o.MintCount = PositiveInt(name, value);
                    break;
                case "--mint-prefix":
                    o.MintPrefix = value;
                    break;
                case "--mint-start":
                    o.MintStart = int.Parse(value, CultureInfo.InvariantCulture);
                    break;
                default:
                    throw new ArgumentException($"unknown option {name}");
            }
        }
        if (o.CaPath.Length == 0)
        {
            throw new ArgumentException("--ca is required");
        }
        return o;
    }

    private static (string Host, int Port) SplitHostPort(string value)
    {
        var colon = value.LastIndexOf(':');
        if (colon <= 0)
        {
            throw new ArgumentException($"expected host:port, got {value}");
        }
        return (value[..colon], int.Parse(value[(colon + 1)..], CultureInfo.InvariantCulture));
    }

    private static int PositiveInt(string name, string value)
    {
        var n = int.Parse(value, CultureInfo.InvariantCulture);
        return n > 0 ? n : throw new ArgumentException($"{name} must be positive");
    }

    private static double NonNegativeDouble(string name, string value)
    {
        var d = double.Parse(value, CultureInfo.InvariantCulture);
        return d >= 0 ? d : throw new ArgumentException($"{name} must not be negative");
    }
}
