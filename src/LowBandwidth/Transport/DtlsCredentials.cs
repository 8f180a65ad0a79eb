using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;
using BcCertificate = Org.BouncyCastle.Tls.Certificate;
using BcHashAlgorithm = Org.BouncyCastle.Tls.HashAlgorithm;

namespace MessengerProxy.LowBandwidth.Transport;

/// <summary>
/// The DTLS server's certificate chain and private key, loaded once from PEM, and the cipher suites that go
/// with the key type. Offering only suites whose authentication matches the key is what keeps the server
/// from picking an RSA suite for an ECDSA certificate (the pion bug lb shipped with, lb PR #12).
/// </summary>
internal sealed class DtlsCredentials
{
    private DtlsCredentials(BcCertificate chain, AsymmetricKeyParameter privateKey, bool isEcdsa, int ecFieldSize, string description)
    {
        Chain = chain;
        PrivateKey = privateKey;
        IsEcdsa = isEcdsa;
        EcFieldSize = ecFieldSize;
        Description = description;
    }

    public BcCertificate Chain { get; }

    public AsymmetricKeyParameter PrivateKey { get; }

    public bool IsEcdsa { get; }

    /// <summary>Bits of the EC key's field (256 for P-256); 0 for RSA.</summary>
    public int EcFieldSize { get; }

    /// <summary>For the log: subject and key type.</summary>
    public string Description { get; }

    /// <summary>
    /// ECDSA: AES-128-GCM (what lb's pion server and most clients use) and AES-128-CCM_8 (RFC 7252's
    /// mandatory certificate suite, for constrained clients). RSA: ECDHE-RSA with AES-128-GCM.
    /// </summary>
    public int[] CipherSuites => IsEcdsa
        ? [CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8]
        : [CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256];

    /// <summary>Reads a PEM certificate (leaf first, then any intermediates) and its PEM private key (ECDSA or RSA).</summary>
    public static DtlsCredentials Load(BcTlsCrypto crypto, string certificatePath, string keyPath)
    {
        using var leaf = X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
        var all = new X509Certificate2Collection();
        all.ImportFromPemFile(certificatePath);
        try
        {
            // The leaf goes first whatever the file's order; the rest are intermediates for the client to chain.
            var rest = all.Where(c => !c.RawDataMemory.Span.SequenceEqual(leaf.RawDataMemory.Span)).Select(c => c.RawData);
            var chain = new BcCertificate(rest.Prepend(leaf.RawData).Select(raw => (TlsCertificate)new BcTlsCertificate(crypto, raw)).ToArray());
            if (leaf.GetECDsaPrivateKey() is { } ecdsa)
            {
                using (ecdsa)
                {
                    var pair = DotNetUtilities.GetECDsaKeyPair(ecdsa);
                    var fieldSize = ((ECPrivateKeyParameters)pair.Private).Parameters.Curve.FieldSize;
                    return new DtlsCredentials(chain, pair.Private, true, fieldSize, $"{leaf.Subject} (ECDSA {ecdsa.KeySize})");
                }
            }

            if (leaf.GetRSAPrivateKey() is { } rsa)
            {
                using (rsa)
                {
                    return new DtlsCredentials(chain, DotNetUtilities.GetRsaKeyPair(rsa).Private, false, 0, $"{leaf.Subject} (RSA {rsa.KeySize})");
                }
            }

            throw new CryptographicException($"The key in {keyPath} is neither ECDSA nor RSA; DTLS needs one of them.");
        }
        finally
        {
            foreach (var certificate in all)
            {
                certificate.Dispose();
            }
        }
    }

    /// <summary>A signer for one handshake, with a signature algorithm the client offered where possible.</summary>
    public TlsCredentialedSigner CreateSigner(TlsServerContext context, BcTlsCrypto crypto)
    {
        var offered = context.SecurityParameters.ClientSigAlgs;
        var preferred = IsEcdsa
            ? EcFieldSize switch
            {
                > 384 => new[] { Ecdsa(BcHashAlgorithm.sha512), Ecdsa(BcHashAlgorithm.sha384), Ecdsa(BcHashAlgorithm.sha256) },
                > 256 => [Ecdsa(BcHashAlgorithm.sha384), Ecdsa(BcHashAlgorithm.sha256)],
                _ => [Ecdsa(BcHashAlgorithm.sha256)],
            }
            : [SignatureAndHashAlgorithm.rsa_pss_rsae_sha256, SignatureAndHashAlgorithm.GetInstance(BcHashAlgorithm.sha256, SignatureAlgorithm.rsa)];

        // RFC 5246 §7.4.1.4.1: without the extension the client accepts SHA-1 only, but no DTLS 1.2 client omits it;
        // when the client offers none of ours we still sign with our first choice and let the client decide.
        var chosen = offered is null ? preferred[0] : preferred.FirstOrDefault(offered.Contains) ?? preferred[0];
        return new BcDefaultTlsCredentialedSigner(new TlsCryptoParameters(context), crypto, PrivateKey, Chain, chosen);
    }

    private static SignatureAndHashAlgorithm Ecdsa(short hash) => SignatureAndHashAlgorithm.GetInstance(hash, SignatureAlgorithm.ecdsa);
}
