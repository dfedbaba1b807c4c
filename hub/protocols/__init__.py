"""Wire protocols, one sans-I/O module each: text in, core calls; core events in, frames out."""
