using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MessengerProxy.Outbound.Certificates;
using MessengerProxy.Tests.TestKit;

namespace MessengerProxy.Tests.Outbound;

public sealed class CertificateAuthorityTests : IDisposable
{
    private const string ServerAuth = "1.3.6.1.5.5.7.3.1";
    private const string P256 = "1.2.840.10045.3.1.7";

    // Fixed times: the CA is valid for two years around Now, so nothing depends on the real clock.
    private static readonly DateTimeOffset s_now = new(2030, 6, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset s_caNotBefore = s_now.AddYears(-1);
    private static readonly DateTimeOffset s_caNotAfter = s_now.AddYears(1);

    private readonly CaFiles _files = new();

    public void Dispose() => _files.Dispose();

    [Fact]
    public void Load_EcCaWithPkcs8Key_LoadsTheCertificate()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var ca = CaFiles.CreateEcCa(key, s_caNotBefore, s_caNotAfter);
        var (certificatePath, keyPath) = _files.Write(ca, key.ExportPkcs8PrivateKeyPem());

        using var authority = CertificateAuthority.Load(certificatePath, keyPath, s_now);

        Assert.Equal(ca.Thumbprint, authority.Certificate.Thumbprint);
    }

    [Fact]
    public void Load_EcCaWithTraditionalKey_LoadsTheCertificate()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        using var ca = CaFiles.CreateEcCa(key, s_caNotBefore, s_caNotAfter);
        var (certificatePath, keyPath) = _files.Write(ca, key.ExportECPrivateKeyPem());

        using var authority = CertificateAuthority.Load(certificatePath, keyPath, s_now);

        Assert.Equal(ca.Thumbprint, authority.Certificate.Thumbprint);
    }

    [Fact]
    public void Load_EncryptedKeyWithItsPassword_IssuesLeavesThatChainToIt()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var ca = CaFiles.CreateEcCa(key, s_caNotBefore, s_caNotAfter);
        var (certificatePath, keyPath) = _files.Write(ca, EncryptedPem(key, "correct horse"));

        using var authority = CertificateAuthority.Load(certificatePath, keyPath, s_now, keyPassword: "correct horse");
        using var leaf = authority.Issue("remote.example", s_now, TimeSpan.FromDays(7));

        Assert.Equal(ca.Thumbprint, authority.Certificate.Thumbprint);
        AssertChainsTo(leaf, ca, s_now);
    }

    [Theory]
    [InlineData("wrong horse")]
    [InlineData(null)]
    public void Load_EncryptedKeyWithoutItsPassword_IsRefusedNamingTheKeyFile(string? password)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var ca = CaFiles.CreateEcCa(key, s_caNotBefore, s_caNotAfter);
        var (certificatePath, keyPath) = _files.Write(ca, EncryptedPem(key, "correct horse"));

        var ex = Assert.Throws<InvalidOperationException>(() => CertificateAuthority.Load(certificatePath, keyPath, s_now, password));

        Assert.Contains($"CA key '{keyPath}'", ex.Message);
    }

    [Fact]
    public void Load_RsaCa_IssuesLeavesThatChainToIt()
    {
        using var key = RSA.Create(2048);
        using var ca = CaFiles.CreateRsaCa(key, s_caNotBefore, s_caNotAfter);
        var (certificatePath, keyPath) = _files.Write(ca, key.ExportRSAPrivateKeyPem());

        using var authority = CertificateAuthority.Load(certificatePath, keyPath, s_now);
        using var leaf = authority.Issue("remote.example", s_now, TimeSpan.FromDays(7));

        Assert.Equal(ca.Thumbprint, authority.Certificate.Thumbprint);
        AssertChainsTo(leaf, ca, s_now);
    }

    [Fact]
    public void Load_KeyOfAnotherCa_IsRefused()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var otherKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var ca = CaFiles.CreateEcCa(key, s_caNotBefore, s_caNotAfter);
        var (certificatePath, keyPath) = _files.Write(ca, otherKey.ExportPkcs8PrivateKeyPem());

        var ex = Assert.Throws<InvalidOperationException>(() => CertificateAuthority.Load(certificatePath, keyPath, s_now));

        Assert.Contains("does not belong", ex.Message);
        Assert.Contains(keyPath, ex.Message);
    }

    [Fact]
    public void Load_RsaKeyForEcCertificate_IsRefused()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var rsa = RSA.Create(2048);
        using var ca = CaFiles.CreateEcCa(key, s_caNotBefore, s_caNotAfter);
        var (certificatePath, keyPath) = _files.Write(ca, rsa.ExportPkcs8PrivateKeyPem());

        var ex = Assert.Throws<InvalidOperationException>(() => CertificateAuthority.Load(certificatePath, keyPath, s_now));

        Assert.Contains("is not a PEM private key", ex.Message);
    }

    [Fact]
    public void Load_KeyFileWithoutPem_IsRefused()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var ca = CaFiles.CreateEcCa(key, s_caNotBefore, s_caNotAfter);
        var (certificatePath, keyPath) = _files.Write(ca, "not a key");

        var ex = Assert.Throws<InvalidOperationException>(() => CertificateAuthority.Load(certificatePath, keyPath, s_now));

        Assert.Contains(keyPath, ex.Message);
    }

    [Fact]
    public void Load_CertificateWithoutCaBasicConstraint_IsRefused()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var ca = CaFiles.CreateEcCa(key, s_caNotBefore, s_caNotAfter, isCa: false, usage: X509KeyUsageFlags.DigitalSignature);
        var (certificatePath, keyPath) = _files.Write(ca, key.ExportPkcs8PrivateKeyPem());

        var ex = Assert.Throws<InvalidOperationException>(() => CertificateAuthority.Load(certificatePath, keyPath, s_now));

        Assert.Contains("is not a CA", ex.Message);
        Assert.Contains(certificatePath, ex.Message);
    }

    [Fact]
    public void Load_CaKeyUsageWithoutKeyCertSign_IsRefused()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var ca = CaFiles.CreateEcCa(key, s_caNotBefore, s_caNotAfter, usage: X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.CrlSign);
        var (certificatePath, keyPath) = _files.Write(ca, key.ExportPkcs8PrivateKeyPem());

        var ex = Assert.Throws<InvalidOperationException>(() => CertificateAuthority.Load(certificatePath, keyPath, s_now));

        Assert.Contains("may not sign", ex.Message);
    }

    [Fact]
    public void Load_CaWithoutKeyUsageExtension_IsAccepted()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var ca = CaFiles.CreateEcCa(key, s_caNotBefore, s_caNotAfter, usage: null);
        var (certificatePath, keyPath) = _files.Write(ca, key.ExportPkcs8PrivateKeyPem());

        using var authority = CertificateAuthority.Load(certificatePath, keyPath, s_now);

        Assert.Equal(ca.Thumbprint, authority.Certificate.Thumbprint);
    }

    [Theory]
    [InlineData(-3, -1)]
    [InlineData(1, 3)]
    public void Load_CaNotValidAtTheGivenTime_IsRefused(int notBeforeDays, int notAfterDays)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var ca = CaFiles.CreateEcCa(key, s_now.AddDays(notBeforeDays), s_now.AddDays(notAfterDays));
        var (certificatePath, keyPath) = _files.Write(ca, key.ExportPkcs8PrivateKeyPem());

        var ex = Assert.Throws<InvalidOperationException>(() => CertificateAuthority.Load(certificatePath, keyPath, s_now));

        Assert.Contains("is not valid now", ex.Message);
    }

    [Fact]
    public void Load_MissingKeyFile_NamesTheFile()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var ca = CaFiles.CreateEcCa(key, s_caNotBefore, s_caNotAfter);
        var (certificatePath, _) = _files.Write(ca, key.ExportPkcs8PrivateKeyPem());
        var missing = Path.Combine(_files.Directory, "missing.key");

        var ex = Assert.Throws<InvalidOperationException>(() => CertificateAuthority.Load(certificatePath, missing, s_now));

        Assert.Contains("cannot be read", ex.Message);
        Assert.Contains(missing, ex.Message);
    }

    [Fact]
    public void Load_MissingCertificateFile_NamesTheFile()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var ca = CaFiles.CreateEcCa(key, s_caNotBefore, s_caNotAfter);
        var (_, keyPath) = _files.Write(ca, key.ExportPkcs8PrivateKeyPem());
        var missing = Path.Combine(_files.Directory, "missing.crt");

        var ex = Assert.Throws<InvalidOperationException>(() => CertificateAuthority.Load(missing, keyPath, s_now));

        Assert.Contains("cannot be read", ex.Message);
        Assert.Contains(missing, ex.Message);
    }

    [Fact]
    public void Load_CertificateFileWithoutCertificate_NamesTheFile()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var ca = CaFiles.CreateEcCa(key, s_caNotBefore, s_caNotAfter);
        var (certificatePath, keyPath) = _files.Write(ca, key.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(certificatePath, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");

        var ex = Assert.Throws<InvalidOperationException>(() => CertificateAuthority.Load(certificatePath, keyPath, s_now));

        Assert.Contains(certificatePath, ex.Message);
    }

    [Fact]
    public void Issue_DnsName_MakesAServerCertificateForThatName()
    {
        using var authority = LoadEcCa(out var ca);

        using var leaf = authority.Issue("remote.example", s_now, TimeSpan.FromDays(7));

        Assert.Equal(["remote.example"], SubjectAlternativeNames(leaf).EnumerateDnsNames());
        Assert.Empty(SubjectAlternativeNames(leaf).EnumerateIPAddresses());
        Assert.Equal("remote.example", leaf.GetNameInfo(X509NameType.SimpleName, forIssuer: false));
        Assert.Equal(ca.SubjectName.RawData, leaf.IssuerName.RawData);
        Assert.True(leaf.HasPrivateKey);
        using (var publicKey = leaf.GetECDsaPublicKey())
        {
            Assert.NotNull(publicKey);
            Assert.Equal(P256, publicKey.ExportParameters(false).Curve.Oid.Value);
        }

        var eku = Assert.Single(leaf.Extensions.OfType<X509EnhancedKeyUsageExtension>());
        Assert.Equal([ServerAuth], eku.EnhancedKeyUsages.Cast<Oid>().Select(o => o.Value));
        var constraints = Assert.Single(leaf.Extensions.OfType<X509BasicConstraintsExtension>());
        Assert.False(constraints.CertificateAuthority);
        var usage = Assert.Single(leaf.Extensions.OfType<X509KeyUsageExtension>());
        Assert.Equal(X509KeyUsageFlags.DigitalSignature, usage.KeyUsages);
    }

    [Fact]
    public void Issue_Leaf_IsValidNowAndAtMostForTheValidity()
    {
        using var authority = LoadEcCa(out _);
        var validity = TimeSpan.FromDays(7);

        using var leaf = authority.Issue("remote.example", s_now, validity);

        Assert.True(leaf.NotBefore.ToUniversalTime() <= s_now.UtcDateTime);
        Assert.True(leaf.NotAfter.ToUniversalTime() > s_now.UtcDateTime);
        Assert.True(leaf.NotAfter.ToUniversalTime() <= (s_now + validity).UtcDateTime);
    }

    [Fact]
    public void Issue_ValidityBeyondTheCa_EndsWithTheCa()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var ca = CaFiles.CreateEcCa(key, s_caNotBefore, s_now.AddDays(2));
        var (certificatePath, keyPath) = _files.Write(ca, key.ExportPkcs8PrivateKeyPem());
        using var authority = CertificateAuthority.Load(certificatePath, keyPath, s_now);

        using var leaf = authority.Issue("remote.example", s_now, TimeSpan.FromDays(30));

        Assert.True(leaf.NotAfter.ToUniversalTime() <= ca.NotAfter.ToUniversalTime());
        Assert.True(leaf.NotAfter.ToUniversalTime() > s_now.UtcDateTime);
        AssertChainsTo(leaf, ca, s_now.AddDays(1));
    }

    [Fact]
    public void Issue_Leaf_ChainsToTheCa()
    {
        using var authority = LoadEcCa(out var ca);

        using var leaf = authority.Issue("remote.example", s_now, TimeSpan.FromDays(7));

        AssertChainsTo(leaf, ca, s_now.AddHours(1));
    }

    [Fact]
    public void Issue_Leaf_DoesNotChainToAnotherCa()
    {
        using var authority = LoadEcCa(out _);
        using var otherKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var other = CaFiles.CreateEcCa(otherKey, s_caNotBefore, s_caNotAfter);

        using var leaf = authority.Issue("remote.example", s_now, TimeSpan.FromDays(7));

        using var chain = Chain(other, s_now.AddHours(1));
        Assert.False(chain.Build(leaf));
    }

    [Fact]
    public void Issue_Leaf_CarriesTheCaKeyIdentifier()
    {
        using var authority = LoadEcCa(out var ca);

        using var leaf = authority.Issue("remote.example", s_now, TimeSpan.FromDays(7));

        var subjectKeyId = Assert.Single(ca.Extensions.OfType<X509SubjectKeyIdentifierExtension>());
        var authorityKeyId = Assert.Single(leaf.Extensions.OfType<X509AuthorityKeyIdentifierExtension>());
        Assert.Equal(Convert.FromHexString(subjectKeyId.SubjectKeyIdentifier!), authorityKeyId.KeyIdentifier!.Value.ToArray());
    }

    [Fact]
    public void Issue_TwoLeaves_HaveDifferentPositiveSerialNumbersAndKeys()
    {
        using var authority = LoadEcCa(out _);

        using var first = authority.Issue("remote.example", s_now, TimeSpan.FromDays(7));
        using var second = authority.Issue("remote.example", s_now, TimeSpan.FromDays(7));

        Assert.NotEqual(first.SerialNumber, second.SerialNumber);
        Assert.True(first.SerialNumberBytes.Span[0] < 0x80 && second.SerialNumberBytes.Span[0] < 0x80, "serial number must be positive (big-endian high bit clear)");
        Assert.NotEqual(first.PublicKey.EncodedKeyValue.RawData, second.PublicKey.EncodedKeyValue.RawData);
    }

    [Theory]
    [InlineData("192.0.2.7")]
    [InlineData("2001:db8::1")]
    public void Issue_IpAddress_PutsAnIpAddressEntryIntoTheSan(string host)
    {
        using var authority = LoadEcCa(out var ca);

        using var leaf = authority.Issue(host, s_now, TimeSpan.FromDays(7));

        Assert.Equal([IPAddress.Parse(host)], SubjectAlternativeNames(leaf).EnumerateIPAddresses());
        Assert.Empty(SubjectAlternativeNames(leaf).EnumerateDnsNames());
        AssertChainsTo(leaf, ca, s_now.AddHours(1));
    }

    private CertificateAuthority LoadEcCa(out X509Certificate2 ca)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        ca = CaFiles.CreateEcCa(key, s_caNotBefore, s_caNotAfter);
        var (certificatePath, keyPath) = _files.Write(ca, key.ExportPkcs8PrivateKeyPem());
        return CertificateAuthority.Load(certificatePath, keyPath, s_now);
    }

    private static X509SubjectAlternativeNameExtension SubjectAlternativeNames(X509Certificate2 leaf) =>
        Assert.Single(leaf.Extensions.OfType<X509SubjectAlternativeNameExtension>());

    private static void AssertChainsTo(X509Certificate2 leaf, X509Certificate2 ca, DateTimeOffset at)
    {
        using var chain = Chain(ca, at);

        var built = chain.Build(leaf);

        Assert.True(built, string.Join("; ", chain.ChainStatus.Select(s => $"{s.Status}: {s.StatusInformation}")));
        Assert.Equal(2, chain.ChainElements.Count);
        Assert.Equal(ca.Thumbprint, chain.ChainElements[^1].Certificate.Thumbprint);
    }

    private static X509Chain Chain(X509Certificate2 root, DateTimeOffset at)
    {
        var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(root);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = at.UtcDateTime;
        chain.ChainPolicy.VerificationTimeIgnored = false;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid(ServerAuth));
        return chain;
    }

    private static string EncryptedPem(ECDsa key, string password) =>
        key.ExportEncryptedPkcs8PrivateKeyPem(password, new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 100_000));
}
