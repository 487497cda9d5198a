"""The command-line programs: ipcontroller, ipengine and ipcluster."""
