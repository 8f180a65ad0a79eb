namespace MessengerProxy.Policy.Endpoints;

/// <summary>
/// The APIs a public listener serves, and the listeners a table row may be served on: a client listener
/// (the client-server API, media, client discovery) or a federation listener (server-server API, keys).
/// </summary>
[Flags]
public enum ListenerApis
{
    None = 0,
    Client = 1,
    Federation = 2,
    All = Client | Federation,
}
