using BenchmarkDotNet.Running;
using MessengerProxy.InboundBench;

BenchmarkSwitcher.FromAssembly(typeof(TimRuleBenchmarks).Assembly).Run(args);
