using System.Text;
using MessengerProxy.Outbound.Tunnels;
using MessengerProxy.Policy;
using MessengerProxy.Policy.Federation;
using MessengerProxy.Policy.Http;

namespace MessengerProxy.Tests.Policy;

/// <summary>
/// The one character table against the RFCs' grammar, written out here independently, and every parser that
/// uses it against the table: a parser with a private copy that drifted would fail one of these.
/// </summary>
public sealed class HttpCharactersTests
{
    private static readonly string s_alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    private static readonly string s_digit = "0123456789";

    // RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
    private static bool IsTchar(char c) => s_alpha.Contains(c) || s_digit.Contains(c) || "!#$%&'*+-.^_`|~".Contains(c);

    // RFC 3986 §3.3: pchar = unreserved / pct-encoded / sub-delims / ":" / "@" (pct-encoded aside).
    private static bool IsPchar(char c) => s_alpha.Contains(c) || s_digit.Contains(c) || "-._~".Contains(c) || "!$&'()*+,;=".Contains(c) || c is ':' or '@';

    public static TheoryData<char> Ascii()
    {
        var data = new TheoryData<char>();
        for (var c = '\0'; c < 0x80; c++)
        {
            data.Add(c);
        }

        data.Add('\u00e9');
        return data;
    }

    [Theory]
    [MemberData(nameof(Ascii))]
    public void Token_IsExactlyRfc9110Tchar_InCharsAndBytes(char c)
    {
        Assert.Equal(IsTchar(c), HttpCharacters.Token.Contains(c));
        Assert.Equal(IsTchar(c), c < 0x100 && HttpCharacters.TokenBytes.Contains((byte)c));
    }

    [Theory]
    [MemberData(nameof(Ascii))]
    public void PathSegment_IsExactlyRfc3986Pchar_AndPathAddsOnlySlashAndPercent(char c)
    {
        Assert.Equal(IsPchar(c), HttpCharacters.PathSegment.Contains(c));
        Assert.Equal(IsPchar(c) || c is '/' or '%', HttpCharacters.Path.Contains(c));
    }

    [Theory]
    [MemberData(nameof(Ascii))]
    public void RequestTarget_RefusesExactlyWhatThePathClassExcludes(char c)
    {
        if (c is '?' or '%')
        {
            return; // the query separator and the escape introducer have their own rules
        }

        var error = RequestTarget.TryParse("/a" + c + "b", out _);

        Assert.Equal(HttpCharacters.Path.Contains(c), error == RequestTargetError.None);
    }

    [Theory]
    [MemberData(nameof(Ascii))]
    public void ConnectHead_AcceptsAHeaderNameCharacter_ExactlyWhenItIsATokenCharacter(char c)
    {
        if (c is '\r' or '\n' or ':' || c > 0x7F)
        {
            return; // these end the name or the line before the name is judged
        }

        var head = Encoding.Latin1.GetBytes($"CONNECT h:443 HTTP/1.1\r\nX{c}Y: v\r\n\r\n");

        Assert.Equal(HttpCharacters.Token.Contains(c), ConnectRequest.Parse(head, out _, out _) == ConnectParseError.None);
    }

    [Theory]
    [MemberData(nameof(Ascii))]
    public void XMatrix_AcceptsAParameterNameCharacter_ExactlyWhenItIsATokenCharacter(char c)
    {
        if (c is '=' or ',' or ' ' or '\t' || c > 0x7F)
        {
            return; // separators of the parameter list
        }

        var header = $"X-Matrix origin=a.example,key=\"ed25519:1\",sig=\"s\",x{c}y=1";

        Assert.Equal(HttpCharacters.Token.Contains(c), XMatrixAuthorization.TryParse(header, out _, out _));
    }
}
