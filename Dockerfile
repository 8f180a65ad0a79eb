# Builds the proxy and the registration service from source into one image:
#   /app/proxy         the proxy (default entrypoint)
#   /app/registration  the registration service (entrypoint: dotnet /app/registration/MessengerProxy.Registration.dll)
# Used by docker-compose.yml; on its own:
#   docker build -t messenger-proxy . && docker run -p 8090:8090 -p 1233:1233 messenger-proxy --homeserver http://synapse:8008
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY global.json Directory.Build.props Directory.Packages.props .editorconfig ./
COPY src/ src/
RUN dotnet publish src/Host/Host.csproj --configuration Release --output /app/proxy \
 && dotnet publish src/Registration/Registration.csproj --configuration Release --output /app/registration

FROM mcr.microsoft.com/dotnet/aspnet:10.0
# curl for the container health checks, openssl for certificates/create-ca.sh.
RUN apt-get update \
 && apt-get install --yes --no-install-recommends curl openssl \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data \
 && chown app /data
COPY --from=build /app /app
COPY certificates/ca.conf certificates/create-ca.sh certificates/create-dtls-cert.sh /app/certificates/
WORKDIR /app/proxy
# The services open their own listeners; the image's default ASP.NET port would only produce a warning.
ENV ASPNETCORE_HTTP_PORTS= \
    Logging__Console__FormatterName=json \
    Federation__CacheFile=/data/federation-list.json
EXPOSE 8090 8093 8008/udp 1233 8080 8081 7777
VOLUME /data
USER app
ENTRYPOINT ["dotnet", "/app/proxy/MessengerProxy.dll"]
