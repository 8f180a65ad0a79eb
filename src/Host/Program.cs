using MessengerProxy.Host;

return await ProxyApp.RunAsync(args);
