# Builds the proxy from source. Used by docker-compose.yml; also fine on its own:
#   docker build -t messenger-proxy . && docker run -p 8090:8090 -p 1233:1233 messenger-proxy --homeserver http://synapse:8008
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY global.json Directory.Build.props Directory.Packages.props .editorconfig ./
COPY src/ src/
RUN dotnet publish src/Host/Host.csproj --configuration Release --output /app

FROM mcr.microsoft.com/dotnet/aspnet:10.0
# curl for the container health check, openssl for certificates/create-ca.sh.
RUN apt-get update \
 && apt-get install --yes --no-install-recommends curl openssl \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app ./
COPY certificates/ca.conf certificates/create-ca.sh /app/certificates/
# The proxy opens its own listeners; the image's default ASP.NET port would only produce a warning.
ENV ASPNETCORE_HTTP_PORTS= \
    Logging__Console__FormatterName=json
EXPOSE 8090 1233
USER app
ENTRYPOINT ["dotnet", "MessengerProxy.dll"]
