using MessengerProxy.Registration;

return await RegistrationApp.RunAsync(args);
