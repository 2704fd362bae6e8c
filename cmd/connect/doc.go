// Command connect is the command line for Persona Connect.
package main
