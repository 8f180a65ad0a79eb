using Microsoft.AspNetCore.Http;

namespace MessengerProxy.Hosting.Health;

/// <summary>An operator action served on the health port only (never on a public listener), e.g. a maintenance trigger.</summary>
internal interface IActuatorEndpoint
{
    /// <summary>Under <c>/actuator/</c>, e.g. <c>/actuator/orphaned-rooms</c>.</summary>
    string Path { get; }

    Task HandleAsync(HttpContext context);
}
