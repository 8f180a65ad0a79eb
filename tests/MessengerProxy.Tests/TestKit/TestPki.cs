using System.Text;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Sec;
using Org.BouncyCastle.Asn1.TeleTrust;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Operators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.OpenSsl;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.X509;

namespace MessengerProxy.Tests.TestKit;

/// <summary>A test certificate authority and JWS signer in the VZD's style, built with BouncyCastle.</summary>
public sealed class TestPki
{
    private static readonly SecureRandom s_random = new();

    private TestPki(AsymmetricCipherKeyPair caKey, X509Certificate ca)
    {
        CaKey = caKey;
        Ca = ca;
    }

    public AsymmetricCipherKeyPair CaKey { get; }

    public X509Certificate Ca { get; }

    public static DerObjectIdentifier Brainpool => TeleTrusTObjectIdentifiers.BrainpoolP256R1;

    public static DerObjectIdentifier P256 => SecObjectIdentifiers.SecP256r1;

    public static TestPki Create(DerObjectIdentifier curve, string name = "CN=Test TSL Root CA, O=Test")
    {
        var key = NewKey(curve);
        var ca = Issue(name, key.Public, name, key.Private, isCa: true, DateTime.UtcNow.AddDays(-1), DateTime.UtcNow.AddYears(5));
        return new TestPki(key, ca);
    }

    public static AsymmetricCipherKeyPair NewKey(DerObjectIdentifier curve)
    {
        var generator = new ECKeyPairGenerator("EC");
        generator.Init(new ECKeyGenerationParameters(curve, s_random));
        return generator.GenerateKeyPair();
    }

    /// <summary>A signer certificate issued by this CA.</summary>
    /// <param name="ocspUrl">The OCSP responder the certificate names (authorityInfoAccess), if any.</param>
    public (AsymmetricCipherKeyPair Key, X509Certificate Certificate) IssueSigner(DerObjectIdentifier curve, DateTime? notBefore = null, DateTime? notAfter = null, string name = "CN=VZD FedList Signer, O=Test", string? ocspUrl = null)
    {
        var key = NewKey(curve);
        var certificate = Issue(name, key.Public, Ca.SubjectDN.ToString(), CaKey.Private, isCa: false,
            notBefore ?? DateTime.UtcNow.AddDays(-1), notAfter ?? DateTime.UtcNow.AddYears(1), ocspUrl);
        return (key, certificate);
    }

    /// <summary>An intermediate CA issued by this CA.</summary>
    public TestPki IssueSubCa(DerObjectIdentifier curve, string name = "CN=Test Sub CA, O=Test", string? ocspUrl = null)
    {
        var key = NewKey(curve);
        var certificate = Issue(name, key.Public, Ca.SubjectDN.ToString(), CaKey.Private, isCa: true, DateTime.UtcNow.AddDays(-1), DateTime.UtcNow.AddYears(2), ocspUrl);
        return new TestPki(key, certificate);
    }

    /// <summary>A delegated OCSP responder certificate (extendedKeyUsage id-kp-OCSPSigning) issued by this CA.</summary>
    public (AsymmetricCipherKeyPair Key, X509Certificate Certificate) IssueOcspResponder(bool ocspSigning = true)
    {
        var key = NewKey(P256);
        var certificate = Issue("CN=Test OCSP Responder, O=Test", key.Public, Ca.SubjectDN.ToString(), CaKey.Private, isCa: false,
            DateTime.UtcNow.AddDays(-1), DateTime.UtcNow.AddYears(1), ocspUrl: null, ocspSigning ? KeyPurposeID.id_kp_OCSPSigning : KeyPurposeID.id_kp_serverAuth);
        return (key, certificate);
    }

    public string WriteCaPem(string directory)
    {
        var path = Path.Combine(directory, $"ca-{Guid.NewGuid():N}.pem");
        using var writer = new StreamWriter(path);
        new PemWriter(writer).WriteObject(Ca);
        return path;
    }

    /// <summary>A compact JWS over <paramref name="payload"/>, with x5c = the given chain.</summary>
    public static string SignJws(string payload, string algorithm, AsymmetricKeyParameter key, params X509Certificate[] chain)
    {
        var header = $$"""{"alg":"{{algorithm}}","x5c":[{{string.Join(",", chain.Select(c => "\"" + Convert.ToBase64String(c.GetEncoded()) + "\""))}}]}""";
        return SignJwsWithHeader(header, payload, key);
    }

    public static string SignJwsWithHeader(string header, string payload, AsymmetricKeyParameter key)
    {
        var input = B64(Encoding.UTF8.GetBytes(header)) + "." + B64(Encoding.UTF8.GetBytes(payload));
        var signer = SignerUtilities.GetSigner("SHA-256withPLAIN-ECDSA");
        signer.Init(true, key);
        var bytes = Encoding.ASCII.GetBytes(input);
        signer.BlockUpdate(bytes, 0, bytes.Length);
        return input + "." + B64(signer.GenerateSignature());
    }

    public static string B64(byte[] data) => System.Buffers.Text.Base64Url.EncodeToString(data);

    private static X509Certificate Issue(string subject, AsymmetricKeyParameter publicKey, string issuer, AsymmetricKeyParameter issuerKey, bool isCa, DateTime notBefore, DateTime notAfter,
        string? ocspUrl = null, KeyPurposeID? purpose = null)
    {
        var generator = new X509V3CertificateGenerator();
        generator.SetSerialNumber(new BigInteger(64, s_random).Add(BigInteger.One));
        generator.SetSubjectDN(new X509Name(subject));
        generator.SetIssuerDN(new X509Name(issuer));
        generator.SetNotBefore(notBefore);
        generator.SetNotAfter(notAfter);
        generator.SetPublicKey(publicKey);
        generator.AddExtension(X509Extensions.BasicConstraints, true, new BasicConstraints(isCa));
        generator.AddExtension(X509Extensions.KeyUsage, true, new KeyUsage(isCa ? KeyUsage.KeyCertSign | KeyUsage.CrlSign : KeyUsage.DigitalSignature));
        if (ocspUrl is not null)
        {
            generator.AddExtension(X509Extensions.AuthorityInfoAccess, false,
                new AuthorityInformationAccess(new AccessDescription(AccessDescription.IdADOcsp, new GeneralName(GeneralName.UniformResourceIdentifier, ocspUrl))));
        }

        if (purpose is not null)
        {
            generator.AddExtension(X509Extensions.ExtendedKeyUsage, false, new ExtendedKeyUsage(purpose));
        }

        return generator.Generate(new Asn1SignatureFactory("SHA256WITHECDSA", issuerKey, s_random));
    }
}
