using System.Runtime.CompilerServices;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Hosting.Configuration;

/// <summary>
/// The one style of options validation in both executables (in the manner of YARP's <c>ConfigValidator</c>):
/// a validator runs every small check against one collector, so start-up reports every problem at once, each
/// naming its key, what is wrong and the value found. Checks that take a property expression derive the key
/// from it with <see cref="CallerArgumentExpressionAttribute"/> (as <c>QuicConnectionOptions</c> does), so a
/// message cannot drift from the property it names: <c>errors.Positive(options.Vzd.PollInterval)</c> reports
/// <c>Registration:Vzd:PollInterval must be positive (got 00:00:00)</c>. The expression must start at the options
/// object (its first name is replaced by the section); the <c>…At</c> variants take keys computed at run time.
/// </summary>
internal sealed class OptionsErrors
{
    private readonly List<string> _messages = [];

    public OptionsErrors(string section) => Section = section;

    /// <summary>The configuration section the options are bound from, e.g. <c>Registration</c>.</summary>
    public string Section { get; }

    /// <summary>The messages so far, for table builders that report into a list.</summary>
    public List<string> Messages => _messages;

    public ValidateOptionsResult Result => _messages.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(_messages);

    public void Add(string message) => _messages.Add(message);

    /// <summary>The configuration key of a property expression: <c>options.Vzd.PollInterval</c> → <c>Registration:Vzd:PollInterval</c>.</summary>
    public string Key(string expression)
    {
        // "options.KeyPath!" names the same key as "options.KeyPath".
        expression = expression.TrimEnd('!');
        var dot = expression.IndexOf('.', StringComparison.Ordinal);
        return dot < 0 ? Section : Section + ":" + expression[(dot + 1)..].Replace('.', ':');
    }

    public void Positive(TimeSpan value, [CallerArgumentExpression(nameof(value))] string expression = "") => PositiveAt(Key(expression), value);

    public void Positive(long value, [CallerArgumentExpression(nameof(value))] string expression = "") => PositiveAt(Key(expression), value);

    public void PositiveAt(string key, TimeSpan value)
    {
        if (value <= TimeSpan.Zero)
        {
            Add($"{key} must be positive (got {value})");
        }
    }

    public void PositiveAt(string key, long value)
    {
        if (value <= 0)
        {
            Add($"{key} must be positive (got {value})");
        }
    }

    /// <summary>A listener port: 0 (any free port) to 65535.</summary>
    public void Port(int port, [CallerArgumentExpression(nameof(port))] string expression = "") => PortAt(Key(expression), port);

    public void PortAt(string key, int port)
    {
        if (port is < 0 or > 65535)
        {
            Add($"{key} must be between 0 and 65535 (got {port})");
        }
    }

    /// <summary>A listener's bind address in one of <see cref="ListenerAddresses.Parse"/>'s spellings.</summary>
    public void BindAddress(string? address, [CallerArgumentExpression(nameof(address))] string expression = "") => BindAddressAt(Key(expression), address);

    public void BindAddressAt(string key, string? address)
    {
        if (ListenerAddresses.Parse(address) is null)
        {
            Add($"{key} must be '*', 'localhost' or an IP address (got '{address}')");
        }
    }

    public void FileExists(string path, [CallerArgumentExpression(nameof(path))] string expression = "") => FileExistsAt(Key(expression), path);

    public void FileExistsAt(string key, string path)
    {
        if (!File.Exists(path))
        {
            // A relative path is resolved against the working directory, which is not always the caller's.
            Add(Path.IsPathRooted(path)
                ? $"{key}: file '{path}' does not exist"
                : $"{key}: file '{path}' does not exist (looked for {Path.GetFullPath(path)})");
        }
    }

    /// <summary>An optional absolute http(s) base URL (see <see cref="ConfigurationChecks.TryParseHttpBaseUrl"/>).</summary>
    public void HttpBaseUrl(string? value, bool allowPath = false, [CallerArgumentExpression(nameof(value))] string expression = "") =>
        HttpBaseUrlAt(Key(expression), value, allowPath);

    public void HttpBaseUrlAt(string key, string? value, bool allowPath = false)
    {
        if (!string.IsNullOrEmpty(value) && !ConfigurationChecks.TryParseHttpBaseUrl(value, out _, out var why, allowPath))
        {
            Add($"{key} {why} (got '{value}')");
        }
    }
}
