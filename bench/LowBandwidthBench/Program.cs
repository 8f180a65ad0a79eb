using BenchmarkDotNet.Running;
using MessengerProxy.LowBandwidthBench;

return args switch
{
    ["--wire", .. var rest] => await WireCount.RunAsync(rest),
    ["--handshakes", .. var rest] => await Handshakes.RunAsync(rest),
    _ => Run(args),
};

static int Run(string[] args)
{
    BenchmarkSwitcher.FromAssembly(typeof(CborBenchmarks).Assembly).Run(args);
    return 0;
}
