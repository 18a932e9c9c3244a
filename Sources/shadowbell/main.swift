print("shadowbell")
