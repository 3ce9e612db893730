"""The local platform behind `shoal up`: the manifests' Services as local processes (`plan`),
kept running by a supervisor (`supervisor`)."""
