using Npgsql;

namespace MessengerProxy.Persistence;

/// <summary>
/// Tells a database that cannot serve now from a fault in the request or the code. "Unavailable" is what
/// Npgsql calls transient: the server cannot be reached or the connection broke (socket, I/O, timeout,
/// an exhausted pool), or the server is shutting down, starting up, out of connections or resources
/// (SQLSTATE classes 08, 53, 57P0x and the like). Repeating the same request later can succeed, so callers
/// answer 503 instead of 500. EF Core and the stores may wrap the Npgsql exception, so the whole chain is read.
/// </summary>
internal static class DatabaseFailures
{
    public static bool IsUnavailable(Exception exception)
    {
        for (Exception? current = exception; current is not null; current = current.InnerException)
        {
            if (current is NpgsqlException { IsTransient: true })
            {
                return true;
            }
        }

        return false;
    }
}
