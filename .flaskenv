FLASK_APP=gateway
