using Microsoft.AspNetCore.Http;

namespace MessengerProxy.Pipeline.Http;

/// <summary>Reads the chain of inner exceptions a forwarding failure comes wrapped in.</summary>
internal static class ExceptionChains
{
    /// <summary>The innermost message, which names the actual cause (for logs).</summary>
    public static string Innermost(Exception? exception)
    {
        if (exception is null)
        {
            return "no detail";
        }

        while (exception.InnerException is not null)
        {
            exception = exception.InnerException;
        }

        return exception.Message;
    }

    /// <summary>Whether the server refused the request body for crossing its size limit.</summary>
    public static bool IsBodyTooLarge(Exception? exception) => Find<BadHttpRequestException>(exception) is { StatusCode: 413 };

    public static T? Find<T>(Exception? exception)
        where T : Exception
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is T match)
            {
                return match;
            }
        }

        return null;
    }
}
