namespace MessengerProxy.Policy.Versions;

/// <summary>
/// A Matrix spec version as advertised by <c>/_matrix/client/versions</c>: <c>vX.Y</c> for releases since
/// v1.1, <c>rX.Y.Z</c> for the older client-server releases (major 0).
/// </summary>
internal readonly record struct MatrixSpecVersion(int Major, int Minor, int Patch) : IComparable<MatrixSpecVersion>
{
    public static MatrixSpecVersion V1_11 { get; } = new(1, 11, 0);

    public static bool TryParse(ReadOnlySpan<char> text, out MatrixSpecVersion version)
    {
        version = default;
        if (text.Length < 4 || (text[0] != 'v' && text[0] != 'r'))
        {
            return false;
        }

        Span<int> parts = stackalloc int[3];
        var count = 0;
        foreach (var range in text[1..].Split('.'))
        {
            var part = text[1..][range];
            // Digits only: no signs, blanks or suffixes such as "v1.12-rc1"; a bounded length avoids overflow.
            if (count == 3 || part.IsEmpty || part.Length > 6 || part.ContainsAnyExceptInRange('0', '9'))
            {
                return false;
            }

            parts[count++] = int.Parse(part, provider: System.Globalization.CultureInfo.InvariantCulture);
        }

        // v-versions have exactly two parts, r-versions exactly three.
        if ((text[0] == 'v' && count != 2) || (text[0] == 'r' && count != 3))
        {
            return false;
        }

        version = new MatrixSpecVersion(parts[0], parts[1], count == 3 ? parts[2] : 0);
        return true;
    }

    public int CompareTo(MatrixSpecVersion other)
    {
        var c = Major.CompareTo(other.Major);
        if (c == 0)
        {
            c = Minor.CompareTo(other.Minor);
        }

        return c != 0 ? c : Patch.CompareTo(other.Patch);
    }

    public static bool operator <=(MatrixSpecVersion left, MatrixSpecVersion right) => left.CompareTo(right) <= 0;

    public static bool operator >=(MatrixSpecVersion left, MatrixSpecVersion right) => left.CompareTo(right) >= 0;

    public static bool operator <(MatrixSpecVersion left, MatrixSpecVersion right) => left.CompareTo(right) < 0;

    public static bool operator >(MatrixSpecVersion left, MatrixSpecVersion right) => left.CompareTo(right) > 0;

    public override string ToString() => Major == 0 ? $"r{Major}.{Minor}.{Patch}" : $"v{Major}.{Minor}";
}
