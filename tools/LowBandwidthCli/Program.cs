using MessengerProxy.LowBandwidthCli;

return await Cli.RunAsync(args, Console.OpenStandardInput(), Console.OpenStandardOutput(), Console.Error);
