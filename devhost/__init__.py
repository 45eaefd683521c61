"""Run the function app on this machine: devhost server and local emulators."""
